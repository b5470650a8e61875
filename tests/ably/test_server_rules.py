"""Ably's documented rules, as the local test server enforces them, checked with the real `ably` SDK.

Every test names the Ably page its rule comes from (see tests/support/ably_server/rules.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ably
import pytest
from ably.types.message import Message
from ably.util.exceptions import AblyException

from tests.support.ably_server import AblyTestServer
from tests.support.ably_server.protocol import AblyError
from tests.support.ably_server.rules import idempotency_key

from .helpers import wait_until
from .test_ably_server import collect

Realtime = Callable[..., Awaitable[ably.AblyRealtime]]
Rest = Callable[..., ably.AblyRest]


async def refused(coro: Awaitable[object]) -> AblyException:
    with pytest.raises(AblyException) as info:
        await asyncio.wait_for(coro, 5)
    return info.value


async def test_40031_messages_published_together_need_ids_of_one_base_with_their_index(
    server: AblyTestServer, realtime: Realtime, rest: Rest
) -> None:
    """https://ably.com/docs/platform/errors/codes/40031-invalid-client-specified-message-id: several
    messages published at once share ONE idempotency key; their ids must be <base>:<index>."""
    got = await collect((await realtime()).channels.get("batch"))
    channel = (await realtime()).channels.get("batch")
    unrelated = [Message("e", {"seq": 1}, id="S:1"), Message("e", {"seq": 2}, id="S:2")]
    err = await refused(channel.publish(unrelated))
    assert (err.code, err.status_code) == (40031, 400)
    err = await refused(channel.publish([Message("e", "1", id="b:1"), Message("e", "2", id="b:0")]))
    assert err.code == 40031  # the index must be the position
    err = await refused(channel.publish([Message("e", "1", id="b:0"), Message("e", "2")]))
    assert err.code == 40031  # every message carries an id, or none does
    err = await refused(rest().channels.get("batch").publish(unrelated))
    assert err.code == 40031  # REST follows the same rule
    assert server.history("batch") == [] and server.counters.nacked == 3

    ok = [Message("e", {"seq": 1}, id="S:1-2:0"), Message("e", {"seq": 2}, id="S:1-2:1")]
    first = await asyncio.wait_for(channel.publish(ok), 5)
    again = await asyncio.wait_for(channel.publish(ok), 5)  # the same key: acknowledged, not delivered
    await asyncio.wait_for(channel.publish([Message("e", "3"), Message("e", "4")]), 5)  # no ids: fine
    await wait_until(lambda: len(got) == 4, 3, "four deliveries")
    await asyncio.sleep(0.1)
    assert [m.data for m in got] == [{"seq": 1}, {"seq": 2}, "3", "4"]
    assert first.serials == again.serials and server.counters.idempotent_dropped == 2


async def test_a_single_message_id_is_its_own_key_and_an_empty_id_is_refused(
    server: AblyTestServer, realtime: Realtime
) -> None:
    """Same 40031 page: a client-specified id cannot be empty."""
    channel = (await realtime()).channels.get("single")
    await asyncio.wait_for(channel.publish(Message("e", "1", id="X:1-3")), 5)
    await asyncio.wait_for(channel.publish(Message("e", "1", id="X:1-3")), 5)
    assert [m["id"] for m in server.history("single")] == ["X:1-3"]
    # The SDK never sends an empty id (it drops falsy ones), so the rule is checked directly.
    with pytest.raises(AblyError) as info:
        idempotency_key([{"name": "e", "id": ""}])
    assert info.value.code == 40031


async def test_ids_are_remembered_for_the_idempotency_window_only(realtime: Realtime) -> None:
    """Ably's messages documentation, "Idempotent publishing": a repeated id is only detected within
    about 2 minutes of the original; after that it is a new message. (Window shortened for the test.)"""
    async with AblyTestServer(idempotency_window_ms=400) as server:
        got = await collect((await realtime(server)).channels.get("w"))
        channel = (await realtime(server)).channels.get("w")
        await asyncio.wait_for(channel.publish(Message("e", "one", id="W:1")), 5)
        await asyncio.wait_for(channel.publish(Message("e", "one", id="W:1")), 5)  # inside: dropped
        await asyncio.sleep(0.5)
        await asyncio.wait_for(channel.publish(Message("e", "one", id="W:1")), 5)  # outside: new
        await wait_until(lambda: len(got) == 2, 3, "two deliveries")
        assert server.counters.idempotent_dropped == 1 and len(server.history("w")) == 2
    assert AblyTestServer().idempotency_window_ms == 120_000  # Ably's ~2 minutes by default


async def test_42913_a_channel_refuses_publishes_beyond_its_rate_and_stays_attached(
    realtime: Realtime,
) -> None:
    """https://ably.com/docs/platform/errors/codes/42913-rate-limit-exceeded-per-channel-inbound: the
    limit is per channel, for all publishers together; excess is rejected with 42913 / HTTP 429, the
    channel stays attached and a later publish succeeds."""
    async with AblyTestServer(channel_rate_limit=5) as server:
        a = (await realtime(server)).channels.get("busy")
        b = (await realtime(server)).channels.get("busy")
        other = (await realtime(server)).channels.get("quiet")
        await asyncio.wait_for(a.attach(), 5)
        results = await asyncio.gather(
            *[(a if i % 2 else b).publish("e", str(i)) for i in range(12)], return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 12 - 5  # one second's burst, shared by both publishers
        assert all(isinstance(e, AblyException) and (e.code, e.status_code) == (42913, 429) for e in errors)
        await asyncio.wait_for(other.publish("e", "other channel"), 5)  # other channels unaffected
        assert a.state == "attached" and server.counters.rate_limited == 7
        await asyncio.sleep(0.5)  # the bucket refills at 5/s
        await asyncio.wait_for(a.publish("e", "later"), 5)
        assert len(server.history("busy")) == 6
    assert AblyTestServer().channel_rate_limit == 50  # messages/s per channel by default


async def test_40009_a_publish_over_the_maximum_message_size_is_refused(realtime: Realtime) -> None:
    """https://ably.com/docs/platform/pricing/limits (maximum message size, 64 KiB by default): the size
    of all messages of one publish (name, data, clientId, extras) counts; over it the publish is
    refused. (Limit lowered for the test: the SDK refuses 64 KiB itself before sending.)"""
    async with AblyTestServer(max_message_size=1000) as server:
        channel = (await realtime(server)).channels.get("big")
        err = await refused(channel.publish("e", "x" * 1001))
        assert (err.code, err.status_code) == (40009, 400)
        err = await refused(channel.publish([Message("e", "x" * 600), Message("e", "y" * 600)]))
        assert err.code == 40009  # counted together
        await asyncio.wait_for(channel.publish("e", "x" * 990), 5)
        assert len(server.history("big")) == 1
    assert AblyTestServer().max_message_size == 65_536


async def test_40142_an_expired_token_disconnects_and_a_renewed_one_resumes(realtime: Realtime) -> None:
    """https://ably.com/docs/platform/errors/codes/40142-token-expired: an expired token is refused with
    40142; a client that can renew (here: it holds the key) gets a new token and carries on, on the
    same connection."""
    async with AblyTestServer() as server:
        client = await realtime(server, client_id="a", default_token_params={"ttl": 800})
        first = client.connection.connection_manager.connection_id
        seen: list[Any] = []
        client.connection.on(lambda change: seen.append(change))
        got = await collect(client.channels.get("t"))
        await wait_until(lambda: any(c.current.value == "disconnected" for c in seen), 3, "the expiry")
        expired = next(c for c in seen if c.current.value == "disconnected")
        assert expired.reason is not None and expired.reason.code == 40142
        await wait_until(lambda: client.connection.state == "connected", 5, "the renewed connection")
        assert client.connection.connection_manager.connection_id == first  # resumed: continuity kept
        assert server.counters.tokens_issued >= 2
        server.publish("t", "e", "after")
        await wait_until(lambda: [m.data for m in got] == ["after"], 3, "delivery after renewal")

        literal = server.create_token(ttl_ms=1)  # a token literal cannot be renewed
        await asyncio.sleep(0.05)
        with pytest.raises(AblyException) as info:
            await asyncio.wait_for(rest_with_token(server, literal).channels.get("t").publish("e", "x"), 5)
        # The server answered 40142; the SDK cannot renew a literal and reports 40171 ("token renewal
        # not configured", https://ably.com/docs/platform/errors/codes/40171-token-renewal-not-configured).
        assert info.value.code == 40171


def rest_with_token(server: AblyTestServer, token: str) -> ably.AblyRest:
    from tests.support.ably_server import client_options

    return ably.AblyRest(**client_options(server, token=token))


async def test_presence_of_an_abruptly_disconnected_client_leaves_after_the_grace_period(
    realtime: Realtime,
) -> None:
    """Ably FAQ "What happens to the presence status of a client that abruptly disconnects?": the member
    stays present for about 15 s (the client may come back and resume), then Ably issues a leave. A
    client that closes leaves at once. (Grace shortened to 0.8 s for the test; 15 s by default.)"""
    async with AblyTestServer(presence_grace_ms=800) as server:
        watcher = (await realtime(server)).channels.get("room")
        events: list[tuple[int, str]] = []
        record = lambda p: events.append((p.action, p.client_id))  # noqa: E731 - SDK wants a function
        await asyncio.wait_for(watcher.presence.subscribe(record), 5)
        member = await realtime(server, client_id="m")
        await asyncio.wait_for(member.channels.get("room").presence.enter(), 5)
        await wait_until(lambda: events == [(2, "m")], 3, "the enter")

        def present() -> list[str]:
            return [m["clientId"] for m in server.presence_members("room")]

        await server.drop_connections(hold_for=0.3)  # back (and resumed) within the grace: never left
        await asyncio.sleep(1.2)
        assert present() == ["m"] and (3, "m") not in events and server.counters.resumed == 2

        attached = server.counters.attached
        await server.drop_connections(hold_for=2.0)  # away (both clients) for longer than the grace
        cut = time.monotonic()
        await wait_until(lambda: present() == [], 3, "the leave after the grace")
        assert time.monotonic() - cut >= 0.7  # not before the grace period
        assert [p["action"] for p in server._channel("room").presence_log][-1] == 3  # a LEAVE event
        await wait_until(lambda: present() == ["m"], 5, "m re-entered by its SDK after reconnecting")
        assert AblyTestServer().presence_grace_ms == 15_000
        # The watcher must be back before c enters: one that re-attaches later learns of c from the
        # attach's SYNC, as PRESENT rather than ENTER (a slow reconnect on a busy machine did just that).
        await wait_until(lambda: server.counters.attached >= attached + 2, 5, "both clients re-attached")
        closing = await realtime(server, client_id="c")
        await asyncio.wait_for(closing.channels.get("room").presence.enter(), 5)
        await wait_until(lambda: (2, "c") in events, 3, "c's enter")
        await asyncio.wait_for(closing.close(), 3)
        # Gone the moment the server took the CLOSE (it answered CLOSED after issuing the leave), not after
        # the grace period; the watcher then hears of it (no tight clock: a busy machine delays delivery).
        assert "c" not in present()
        await wait_until(lambda: (3, "c") in events, 3, "the watcher told of c's leave")
