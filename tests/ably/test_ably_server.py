"""The local Ably test server, exercised with the real `ably` SDK (AblyRealtime and AblyRest)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import ably
import pytest
from ably.types.message import Message

from tests.support.ably_server import AblyTestServer, ControlClient, ServerThread, client_options

from .helpers import FAST, wait_until

Realtime = Callable[..., Awaitable[ably.AblyRealtime]]
Rest = Callable[..., ably.AblyRest]
ROOT = Path(__file__).resolve().parents[2]


def conn_id(client: ably.AblyRealtime) -> str | None:
    # ably 3.1.4 has no public `connection.id` (RTN8); the manager holds it.
    return client.connection.connection_manager.connection_id


async def collect(channel: Any) -> list[Message]:
    """Subscribe (which attaches) and return the list incoming messages are appended to."""
    got: list[Message] = []
    # a lambda, not `got.append`: the SDK only accepts functions and bound methods as listeners
    await asyncio.wait_for(channel.subscribe(lambda m: got.append(m)), 5)
    return got


def states(client: ably.AblyRealtime) -> list[str]:
    seen: list[str] = []
    client.connection.on(lambda change: seen.append(change.current.value))
    return seen


# -- connection ----------------------------------------------------------------------------------


async def test_connect_heartbeats_keep_an_idle_connection_alive_and_ping_echoes() -> None:
    async with AblyTestServer(max_idle_interval_ms=300) as server:  # a heartbeat every 150 ms
        # The SDK gives up on a silent connection after maxIdleInterval + realtime_request_timeout.
        client = ably.AblyRealtime(**client_options(server, client_id="alice", realtime_request_timeout=500))
        try:
            await asyncio.wait_for(client.connection.once_async("connected"), 5)
            details = client.connection.connection_details
            assert details is not None and details.max_idle_interval == 300
            assert server.connection_info() == [
                {
                    "id": conn_id(client),
                    "clientId": "alice",
                    "connected": True,
                    "channels": [],
                    "format": "msgpack",
                }
            ]
            await asyncio.sleep(1.3)  # > 300 + 500 ms: only the heartbeats keep it open
            assert client.connection.state == "connected"
            assert server.counters.connections == 1
            assert server.counters.heartbeats >= 5
            rtt = await asyncio.wait_for(client.connection.ping(), 2)
            assert rtt >= 0 and server.counters.pings == 1
        finally:
            await asyncio.wait_for(client.close(), 3)
        await wait_until(lambda: server.counters.active_connections == 0, 3, "the socket to close")
        assert server.counters.closed == 1


async def test_pause_silences_the_server_until_the_client_gives_up_then_it_resumes() -> None:
    async with AblyTestServer(max_idle_interval_ms=300) as server:
        retry = FAST["disconnected_retry_timeout"]
        client = ably.AblyRealtime(
            **client_options(server, realtime_request_timeout=500, disconnected_retry_timeout=retry)
        )
        try:
            await asyncio.wait_for(client.connection.once_async("connected"), 5)
            first = conn_id(client)
            seen = states(client)
            server.pause_for(1.5)
            await wait_until(lambda: "disconnected" in seen, 3, "the client to notice the silence")
            await wait_until(lambda: seen[-1:] == ["connected"], 5, "the client to reconnect")
            assert conn_id(client) == first
            assert server.counters.resumed >= 1
        finally:
            await asyncio.wait_for(client.close(), 3)


async def test_wrong_key_fails_the_connection(server: AblyTestServer) -> None:
    client = ably.AblyRealtime(
        **client_options(server, key="cardsort.testkey:wrong", use_token_auth=False, **FAST)
    )
    try:
        change = await asyncio.wait_for(client.connection.once_async("failed"), 5)
        assert change.reason.code == 40101
    finally:
        await asyncio.wait_for(client.close(), 3)


# -- channels ------------------------------------------------------------------------------------


async def test_attach_and_detach(server: AblyTestServer, realtime: Realtime) -> None:
    client = await realtime()
    channel = client.channels.get("sessions:ABC")
    await asyncio.wait_for(channel.attach(), 5)
    assert channel.state == "attached"
    assert server.connection_info()[0]["channels"] == ["sessions:ABC"]
    await asyncio.wait_for(channel.detach(), 5)
    assert channel.state == "detached"
    assert server.connection_info()[0]["channels"] == []
    assert (server.counters.attached, server.counters.detached) == (1, 1)


@pytest.mark.parametrize("binary", [True, False], ids=["msgpack", "json"])
async def test_publish_is_acked_and_delivered_in_order_with_serials(
    server: AblyTestServer, realtime: Realtime, binary: bool
) -> None:
    sub = await realtime(use_binary_protocol=binary)
    pub = await realtime(use_binary_protocol=not binary, client_id="pub")
    got = await collect(sub.channels.get("orders"))
    channel = pub.channels.get("orders")
    acks = [await asyncio.wait_for(channel.publish("n", {"i": i}), 5) for i in range(10)]
    acks.append(await asyncio.wait_for(channel.publish("bin", b"\x00\xff"), 5))
    await wait_until(lambda: len(got) == 11, 5, "11 deliveries")
    ack_serials = [a.serials[0] for a in acks]
    assert ack_serials == sorted(ack_serials) and len(set(ack_serials)) == 11
    assert [m.serial for m in got] == ack_serials
    assert [m.data for m in got[:10]] == [{"i": i} for i in range(10)]
    assert bytes(got[10].data) == b"\x00\xff"
    assert {m.client_id for m in got} == {"pub"} and {m.connection_id for m in got} == {conn_id(pub)}
    assert server.counters.acked == 11 and server.counters.delivered >= 11


async def test_token_capability_nacks_publish_and_refuses_attach_outside_it(
    server: AblyTestServer, realtime: Realtime
) -> None:
    client = await realtime(default_token_params={"capability": {"allowed:*": ["publish", "subscribe"]}})
    ok = await asyncio.wait_for(client.channels.get("allowed:1").publish("e", "x"), 5)
    assert ok.serials == ["0000000000000001"]
    with pytest.raises(ably.AblyException) as nacked:
        await asyncio.wait_for(client.channels.get("secret").publish("e", "x"), 5)
    assert nacked.value.code == 40160
    with pytest.raises(ably.AblyException) as refused:
        await asyncio.wait_for(client.channels.get("secret").attach(), 5)
    assert refused.value.code == 40160
    assert server.counters.nacked == 1
    assert server.history("secret") == []


# -- presence ------------------------------------------------------------------------------------


async def test_presence_enter_sync_subscribe_and_leave(
    server: AblyTestServer, realtime: Realtime, rest: Rest
) -> None:
    alice = await realtime(client_id="alice")
    await asyncio.wait_for(alice.channels.get("room").presence.enter({"step": 1}), 5)

    bob = await realtime(client_id="bob")
    room = bob.channels.get("room")
    events: list[tuple[str, str]] = []
    await asyncio.wait_for(
        room.presence.subscribe(lambda p: events.append((_action(p.action), p.client_id))), 5
    )
    members = await asyncio.wait_for(room.presence.get(), 5)  # filled by the SYNC on attach
    assert [(m.client_id, m.data) for m in members] == [("alice", {"step": 1})]

    carol = await realtime(client_id="carol", use_binary_protocol=False)
    await asyncio.wait_for(carol.channels.get("room").presence.enter("hi"), 5)
    await wait_until(lambda: ("enter", "carol") in events, 5, "carol's enter")
    await asyncio.wait_for(alice.channels.get("room").presence.update({"step": 2}), 5)
    await wait_until(lambda: ("update", "alice") in events, 5, "alice's update")
    await asyncio.wait_for(alice.channels.get("room").presence.leave(), 5)
    await wait_until(lambda: ("leave", "alice") in events, 5, "alice's leave")
    assert sorted(m.client_id for m in await room.presence.get()) == ["carol"]

    rest_members = (await asyncio.wait_for(rest().channels.get("room").presence.get(), 5)).items
    assert [(m.client_id, m.data) for m in rest_members] == [("carol", "hi")]

    await asyncio.wait_for(carol.close(), 3)  # CLOSE leaves presence at once
    await wait_until(lambda: ("leave", "carol") in events, 5, "carol's leave on close")


def _action(action: int) -> str:
    return {0: "absent", 1: "present", 2: "enter", 3: "leave", 4: "update"}[action]


# -- resume and outages --------------------------------------------------------------------------


async def test_resume_after_drop_delivers_missed_messages_once(
    server: AblyTestServer, realtime: Realtime, rest: Rest
) -> None:
    sub = await realtime()
    first = conn_id(sub)
    got = await collect(sub.channels.get("feed"))
    publisher = rest().channels.get("feed")
    await publisher.publish("before", "0")
    await wait_until(lambda: len(got) == 1, 5, "the first message")

    seen = states(sub)
    assert await server.drop_connections(hold_for=0.5) == 1
    await wait_until(lambda: "disconnected" in seen, 2, "the disconnect")
    for i in range(1, 6):
        await publisher.publish("missed", str(i))  # the subscriber is disconnected meanwhile
    queued = asyncio.ensure_future(sub.channels.get("feed").publish("queued", "6"))  # sent on reconnect
    assert (await asyncio.wait_for(queued, 5)).serials == ["0000000000000007"]
    await wait_until(lambda: len(got) >= 7, 5, "the missed messages")
    await asyncio.sleep(0.2)

    assert [m.data for m in got] == [str(i) for i in range(7)]
    assert len({m.serial for m in got}) == 7
    assert conn_id(sub) == first and seen[-1] == "connected"
    assert server.counters.resumed == 1 and server.counters.channel_resumes == 1


async def test_expired_connection_state_gives_a_new_connection_and_loses_continuity() -> None:
    """https://ably.com/docs/connect/states: continuity lasts about two minutes (here 200 ms); after it
    the resume fails (80008), channels re-attach without RESUMED and what was missed is not replayed
    (it stays in history)."""
    async with AblyTestServer(connection_state_ttl_ms=200) as server:
        sub = ably.AblyRealtime(**client_options(server, **FAST))
        try:
            await asyncio.wait_for(sub.connection.once_async("connected"), 5)
            first = conn_id(sub)
            channel = sub.channels.get("feed")
            got = await collect(channel)
            updates: list[Any] = []
            attaches: list[Any] = []
            sub.connection.on("connected", lambda change: updates.append(change))
            channel.on("attached", lambda change: attaches.append(change))
            await server.drop_connections(hold_for=0.5)  # longer than the 200 ms connection TTL
            server.publish("feed", "missed", "1")
            await wait_until(lambda: bool(attaches), 5, "the re-attach")
            assert conn_id(sub) != first
            assert updates and updates[-1].reason is not None and updates[-1].reason.code == 80008
            assert attaches[-1].resumed is False
            server.publish("feed", "after", "2")
            await wait_until(lambda: len(got) == 1, 5, "the live message")
            assert [m.data for m in got] == ["2"]  # "1" was lost to this client ...
            assert [m["data"] for m in server.history("feed")] == ["1", "2"]  # ... not to the channel
            assert server.counters.resume_failed == 1 and server.counters.continuity_lost == 1
        finally:
            await asyncio.wait_for(sub.close(), 3)


async def test_stop_then_start_the_client_reconnects_by_itself(
    server: AblyTestServer, realtime: Realtime
) -> None:
    sub = await realtime()
    got = await collect(sub.channels.get("feed"))
    port = server.port
    seen = states(sub)
    restart = await server.stop_for(3)
    await wait_until(lambda: "disconnected" in seen, 3, "the disconnect")
    server.publish("feed", "while-down", "1")  # kept in the log while no one can connect
    await asyncio.sleep(1.0)
    assert sub.connection.state != "connected"
    await asyncio.wait_for(restart, 5)
    assert server.port == port
    await wait_until(lambda: sub.connection.state == "connected", 5, "the reconnect")
    server.publish("feed", "after", "2")
    await wait_until(lambda: len(got) == 2, 5, "both messages")
    assert [m.data for m in got] == ["1", "2"]


# -- REST ----------------------------------------------------------------------------------------


async def test_rest_token_publish_and_history(server: AblyTestServer, rest: Rest, realtime: Realtime) -> None:
    client = rest(client_id="svc")
    token = await client.auth.request_token({"capability": {"log:*": ["*"]}, "ttl": 60_000})
    assert token.client_id == "svc" and "log:*" in token.capability
    assert token.expires - token.issued == 60_000

    channel = client.channels.get("log:1")
    result = await channel.publish(messages=[Message("e", {"i": i}) for i in range(5)])
    assert result.serials == [f"{i:016d}" for i in range(1, 6)]

    newest_first = await channel.history()
    assert [m.data["i"] for m in newest_first.items] == [4, 3, 2, 1, 0]
    assert all(m.client_id == "svc" for m in newest_first.items)
    forwards = await channel.history(direction="forwards", limit=2)
    assert [m.data["i"] for m in forwards.items] == [0, 1] and forwards.has_next()
    page2 = await forwards.next()
    assert [m.data["i"] for m in page2.items] == [2, 3]

    # a realtime client's REST calls use the same server
    rt = await realtime(use_binary_protocol=False)
    assert [m.data for m in (await rt.channels.get("log:1").history(limit=1)).items] == [{"i": 4}]


async def test_rest_capability_limits_a_restricted_token(server: AblyTestServer, rest: Rest) -> None:
    client = rest(default_token_params={"capability": {"log:*": ["publish"]}})
    await client.channels.get("log:2").publish("e", "ok")
    for call in (client.channels.get("log:2").history(), client.channels.get("other").publish("e", "no")):
        with pytest.raises(ably.AblyException) as exc:
            await call
        assert exc.value.code == 40160
    assert [m["data"] for m in server.history("log:2")] == ["ok"] and server.history("other") == []


async def test_rewind_param_replays_the_last_messages_on_attach(
    server: AblyTestServer, realtime: Realtime
) -> None:
    for i in range(5):
        server.publish("rewound", "e", str(i))
    client = await realtime()
    got = await collect(client.channels.get("rewound", params={"rewind": "2"}))
    await wait_until(lambda: len(got) == 2, 3, "the rewound messages")
    assert [m.data for m in got] == ["3", "4"]


async def test_rest_refuses_basic_auth_over_plain_http_as_documented(server: AblyTestServer) -> None:
    client = ably.AblyRest(**client_options(server, use_token_auth=False))
    try:
        with pytest.raises(ably.AblyException) as exc:
            await client.channels.get("x").publish("e", "1")
        assert exc.value.code == 40103  # raised by the SDK itself; the request never leaves
    finally:
        await client.close()


# -- idempotency and faults ----------------------------------------------------------------------


async def test_repeated_message_ids_are_acked_but_delivered_once(
    server: AblyTestServer, realtime: Realtime, rest: Rest
) -> None:
    sub = await realtime()
    got = await collect(sub.channels.get("sessions:X"))
    pub = (await realtime()).channels.get("sessions:X")
    first = await asyncio.wait_for(pub.publish(Message("e", {"seq": 1}, id="X:1")), 5)
    again = await asyncio.wait_for(pub.publish(Message("e", {"seq": 1}, id="X:1")), 5)
    await rest().channels.get("sessions:X").publish(Message("e", {"seq": 1}, id="X:1"))
    await asyncio.wait_for(pub.publish(Message("e", {"seq": 2}, id="X:2")), 5)
    await wait_until(lambda: len(got) == 2, 5, "two deliveries")
    await asyncio.sleep(0.2)
    assert [m.id for m in got] == ["X:1", "X:2"]
    assert first.serials == again.serials
    assert server.counters.idempotent_dropped == 2 and len(server.history("sessions:X")) == 2


async def test_duplicate_next_delivers_the_same_message_twice(
    server: AblyTestServer, realtime: Realtime
) -> None:
    sub = await realtime()
    got = await collect(sub.channels.get("dup"))
    server.duplicate_next(1)
    server.publish("dup", "e", "1", id="m1")
    server.publish("dup", "e", "2", id="m2")
    await wait_until(lambda: len(got) == 3, 5, "three deliveries")
    assert [(m.id, m.serial) for m in got] == [
        ("m1", "0000000000000001"),
        ("m1", "0000000000000001"),
        ("m2", "0000000000000002"),
    ]
    assert server.counters.duplicated == 1


async def test_delay_holds_deliveries_but_keeps_order_and_acks_prompt(
    server: AblyTestServer, realtime: Realtime
) -> None:
    sub = await realtime()
    got: list[tuple[float, Any]] = []
    await asyncio.wait_for(
        sub.channels.get("slow").subscribe(lambda m: got.append((time.monotonic(), m.data))), 5
    )
    pub = (await realtime()).channels.get("slow")
    server.delay(0.4)
    sent = time.monotonic()
    for i in range(3):
        await asyncio.wait_for(pub.publish("e", str(i)), 1)
    assert time.monotonic() - sent < 0.3  # ACKs are not delayed
    await wait_until(lambda: len(got) == 3, 5, "the delayed deliveries")
    assert [d for _, d in got] == ["0", "1", "2"]
    assert got[0][0] - sent >= 0.35


async def test_reorder_shuffles_deliveries_within_a_window(
    server: AblyTestServer, realtime: Realtime
) -> None:
    sub = await realtime()
    got = await collect(sub.channels.get("shuffled"))
    server.reorder(5)
    for i in range(5):
        server.publish("shuffled", "e", {"i": i})
    await wait_until(lambda: len(got) == 5, 5, "five deliveries")
    order = [m.data["i"] for m in got]
    assert sorted(order) == [0, 1, 2, 3, 4] and order != [0, 1, 2, 3, 4]
    server.reorder(0)
    server.publish("shuffled", "e", {"i": 5})
    await wait_until(lambda: len(got) == 6, 5, "an in-order delivery")
    assert got[-1].data == {"i": 5} and server.counters.reordered_batches == 1


async def test_lost_delivery_stays_in_history(server: AblyTestServer, realtime: Realtime, rest: Rest) -> None:
    sub = await realtime()
    got = await collect(sub.channels.get("gappy"))
    server.lose_next(1)
    for i in range(3):
        server.publish("gappy", "e", str(i))
    await wait_until(lambda: len(got) == 2, 5, "two deliveries")
    assert [m.data for m in got] == ["1", "2"]
    history = await rest().channels.get("gappy").history(direction="forwards")
    assert [m.data for m in history.items] == ["0", "1", "2"]


# -- standalone process --------------------------------------------------------------------------


async def test_standalone_server_is_driven_over_the_control_api(rest: Rest) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.ably_server", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10)
        assert line.startswith("PORT=")
        with ControlClient(int(line.strip().split("=", 1)[1])) as control:
            client = rest(control)
            await client.channels.get("remote").publish("e", "1")
            control.duplicate_next(2)
            assert control.publish("remote", "e", "2") == "0000000000000002"
            assert [m["data"] for m in control.history("remote")] == ["1", "2"]
            counters = control.counters()
            assert counters["published"] == 2 and counters["tokens_issued"] == 1
            assert control.call("faults", "GET")["duplicate_next"] == 2
    finally:
        proc.terminate()
        await asyncio.wait_for(asyncio.to_thread(proc.wait), 10)


# -- auth lifecycle, lost ACKs, echo, threads ------------------------------------------------------


async def test_expiring_token_is_renewed_and_the_connection_resumed(
    server: AblyTestServer, realtime: Realtime
) -> None:
    client = await realtime(client_id="a", default_token_params={"ttl": 1000})
    first = conn_id(client)
    got = await collect(client.channels.get("t"))
    seen = states(client)
    await wait_until(lambda: "disconnected" in seen, 3, "the token-expiry disconnect")
    assert client.connection.error_reason is not None and client.connection.error_reason.code == 40142
    await wait_until(lambda: seen[-1:] == ["connected"], 3, "the reconnect with a new token")
    assert conn_id(client) == first and server.counters.tokens_issued == 2
    server.publish("t", "e", "after")
    await wait_until(lambda: [m.data for m in got] == ["after"], 3, "delivery after renewal")

    details = await asyncio.wait_for(client.auth.authorize(), 5)  # in-band AUTH on the live connection
    assert details.client_id == "a" and server.counters.tokens_issued == 3
    assert client.connection.state == "connected" and conn_id(client) == first


async def test_unacked_publish_is_resent_after_resume_and_kept_once(
    server: AblyTestServer, realtime: Realtime
) -> None:
    got = await collect((await realtime()).channels.get("acks"))
    pub = (await realtime()).channels.get("acks")
    server.lose_ack_next(1)
    pending = asyncio.ensure_future(pub.publish("e", "only-once"))  # no explicit id
    await wait_until(lambda: server.counters.acks_lost == 1, 3, "the publish to be processed")
    await server.drop_connections()
    result = await asyncio.wait_for(pending, 5)  # re-sent on the resumed connection, then ACKed
    assert result.serials == ["0000000000000001"]
    await asyncio.sleep(0.2)
    assert [m.data for m in got] == ["only-once"]
    assert server.counters.idempotent_dropped == 1


async def test_after_a_failed_resume_only_explicit_ids_prevent_a_double_publish() -> None:
    """DESIGN §6: a re-sent message without an id gets a new connection id, so it is new."""
    async with AblyTestServer(connection_state_ttl_ms=200) as server:
        pub = ably.AblyRealtime(**client_options(server, **FAST))
        try:
            await asyncio.wait_for(pub.connection.once_async("connected"), 5)
            channel = pub.channels.get("resend")
            server.lose_ack_next(2)
            with_id = asyncio.ensure_future(channel.publish(Message("e", "keyed", id="S:1")))
            without = asyncio.ensure_future(channel.publish("e", "anonymous"))
            await wait_until(lambda: server.counters.acks_lost == 2, 3, "both publishes")
            await server.drop_connections(hold_for=0.5)  # the connection state expires meanwhile
            await asyncio.wait_for(asyncio.gather(with_id, without), 5)
            assert [m["data"] for m in server.history("resend")] == ["keyed", "anonymous", "anonymous"]
            assert server.counters.resume_failed == 1 and server.counters.idempotent_dropped == 1
        finally:
            await asyncio.wait_for(pub.close(), 3)


async def test_echo_false_suppresses_own_messages(server: AblyTestServer, realtime: Realtime) -> None:
    quiet = await realtime(transport_params={"echo": "false"})
    loud = await realtime()
    own = await collect(quiet.channels.get("echo"))
    other = await collect(loud.channels.get("echo"))
    await asyncio.wait_for(quiet.channels.get("echo").publish("e", "mine"), 5)
    await wait_until(lambda: len(other) == 1, 3, "delivery to the other client")
    await asyncio.sleep(0.1)
    assert own == []


async def test_server_thread_serves_a_client_on_another_loop() -> None:
    with ServerThread() as srv:
        client = ably.AblyRealtime(**client_options(srv, **FAST))
        try:
            got = await collect(client.channels.get("threaded"))
            srv.duplicate_next(1)
            await asyncio.to_thread(srv.publish, "threaded", "e", "x")
            await wait_until(lambda: len(got) == 2, 3, "the duplicated delivery")
            assert srv.counters["duplicated"] == 1
        finally:
            await asyncio.wait_for(client.close(), 3)
