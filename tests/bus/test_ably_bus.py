"""AblyBus against the local Ably-compatible server with the real `ably` SDK: wire format, delivery,
idempotent publishing, malformed input, errors, selective subscriptions and configuration."""

from __future__ import annotations

import asyncio
import json

import pytest

from cardsort_app.bootstrap import make_bus
from cardsort_app.bus.ably_bus import AblyBus, BusUnavailable, channel_name, debug_channel_name
from cardsort_app.domain.events import Event, parse_event
from cardsort_app.service.bus_port import PublishError
from cardsort_app.settings import load_settings
from tests.support.ably_server import AblyTestServer

from .conftest import BusFactory
from .helpers import CODE, sequenced, server_channels, stays, wait_until


def collector() -> tuple[list[Event], object]:
    got: list[Event] = []

    async def handler(event: Event) -> None:
        got.append(event)

    return got, handler


@pytest.mark.parametrize("auth", ["token", "key"])
async def test_round_trip_between_two_workers(
    server: AblyTestServer, make_bus: BusFactory, auth: str
) -> None:
    async def body() -> None:
        a, b = await make_bus(auth=auth), await make_bus(auth=auth)
        got, handler = collector()
        await b.subscribe(CODE, handler)
        events = [sequenced(CODE, seq) for seq in (1, 2, 3)]
        for event in events:
            await a.publish(event)
        await wait_until(lambda: len(got) == 3, what="three deliveries")
        assert got == events

        # On the wire: name = type, id = {code}:{seq}, data = the wire JSON object.
        history = server.history(channel_name(CODE))
        assert [m["name"] for m in history] == ["CARD_MOVED"] * 3
        assert [m["id"] for m in history] == [f"{CODE}:{seq}" for seq in (1, 2, 3)]
        assert [(m["encoding"], json.loads(m["data"])) for m in history] == [
            ("json", e.to_wire()) for e in events
        ]
        assert all(parse_event(json.loads(m["data"])) == e for m, e in zip(history, events, strict=True))

        # A republished seq (a relay retry, another worker's recover) is dropped by the server.
        dropped = server.counters.idempotent_dropped
        await a.publish(events[1])
        await b.publish(events[1])
        assert server.counters.idempotent_dropped == dropped + 2
        assert len(server.history(channel_name(CODE))) == 3
        await stays(lambda: len(got) == 3, 0.3, "exactly three deliveries")
        assert b.subscribed_sessions() == {CODE} and a.subscribed_sessions() == set()

    await asyncio.wait_for(body(), 20)


async def test_publish_many_packs_a_seq_range_into_one_message_with_one_id(
    server: AblyTestServer, make_bus: BusFactory
) -> None:
    """Ably's 40031 rule (one idempotency key per publish): a backlog goes out as ONE message per
    contiguous range, id {code}:{first}-{last}; a retry of the same range is dropped by Ably."""

    async def body() -> None:
        a, b = await make_bus(), await make_bus()
        got, handler = collector()
        await b.subscribe(CODE, handler)
        events = [sequenced(CODE, seq) for seq in range(1, 6)]
        await a.publish(events[0])
        acked = server.counters.acked
        await a.publish_many(events)  # overlaps seq 1: subscribers drop it by seq
        await a.publish_many(events)  # a retry of the same range: acknowledged, not delivered again
        assert server.counters.acked == acked + 2 and server.counters.nacked == 0
        await wait_until(lambda: len(got) == 6, what="six deliveries")
        assert got == [events[0], *events]
        assert [m["id"] for m in server.history(channel_name(CODE))] == [f"{CODE}:1", f"{CODE}:1-5"]
        assert server.history(channel_name(CODE))[1]["name"] == "events"

        gappy = [sequenced(CODE, s) for s in (7, 8, 10)]  # 9 is another worker's: ranges stay contiguous
        await a.publish_many(gappy)
        await wait_until(lambda: len(got) == 9, what="three more deliveries")
        assert got[6:] == gappy
        assert [m["id"] for m in server.history(channel_name(CODE))][2:] == [f"{CODE}:7-8", f"{CODE}:10"]
        await a.publish_many([])
        with pytest.raises(ValueError):
            await a.publish_many([sequenced(CODE, 6), sequenced("OTHER9", 1)])

    await asyncio.wait_for(body(), 15)


async def test_a_range_is_split_under_the_maximum_message_size(make_server, make_bus: BusFactory) -> None:
    """https://ably.com/docs/platform/pricing/limits: messages over the maximum size are refused
    (40009); the bus splits a range into messages that each fit."""

    async def body() -> None:
        server = await make_server(max_message_size=4096)
        a = await make_bus(server, max_message_bytes=4096)
        b = await make_bus(server)
        got, handler = collector()
        await b.subscribe(CODE, handler)
        events = [sequenced(CODE, seq, card="c" * 50) for seq in range(1, 41)]
        await a.publish_many(events)
        await wait_until(lambda: len(got) == 40, what="forty deliveries")
        assert got == events and server.counters.nacked == 0
        history = server.history(channel_name(CODE))
        assert len(history) > 3  # split
        assert all(len(json.dumps(m["data"])) <= 4096 for m in history)
        ranges = [m["id"].split(":")[1] for m in history]
        assert ranges[0].startswith("1-") and ranges[-1].endswith("-40")

    await asyncio.wait_for(body(), 20)


async def test_publishes_are_paced_under_the_channel_rate_limit(make_server, make_bus: BusFactory) -> None:
    """https://ably.com/docs/platform/errors/codes/42913-rate-limit-exceeded-per-channel-inbound: the
    bus paces each channel under its rate, so a burst of single publishes is never refused."""

    async def body() -> None:
        server = await make_server(channel_rate_limit=10)
        a = await make_bus(server, channel_rate=10)
        b = await make_bus(server)
        got, handler = collector()
        await b.subscribe(CODE, handler)
        events = [sequenced(CODE, seq) for seq in range(1, 26)]
        await asyncio.gather(*(a.publish(e) for e in events))  # 25 messages at 10/s
        await wait_until(lambda: len(got) == 25, 5, "25 deliveries")
        assert sorted(e.seq for e in got) == list(range(1, 26))
        assert server.counters.rate_limited == 0 and server.counters.nacked == 0

    await asyncio.wait_for(body(), 20)


async def test_malformed_messages_are_dropped_with_a_diagnostic(
    server: AblyTestServer, make_bus: BusFactory
) -> None:
    async def body() -> None:
        bus = await make_bus()
        got, handler = collector()
        await bus.subscribe(CODE, handler)
        ch = channel_name(CODE)
        server.publish(ch, "CARD_MOVED", "this is not JSON")
        server.publish(ch, "CARD_MOVED", {"type": "CARD_MOVED", "id": "x"})  # missing fields
        server.publish(ch, "CARD_MOVED", sequenced("OTHER9", 1).to_wire())  # another session's event
        unsequenced = sequenced(CODE, 1).to_wire()
        del unsequenced["seq"]
        server.publish(ch, "CARD_MOVED", unsequenced)
        server.publish(ch, "CARD_MOVED", [1, 2, 3])
        good = sequenced(CODE, 1)
        server.publish(ch, "CARD_MOVED", good.to_json(), id=f"{CODE}:1")  # JSON text is accepted too
        await wait_until(lambda: got, what="the valid event")
        assert got == [good]
        assert bus.stats["malformed"] == 5
        await wait_until(lambda: len(server.history(debug_channel_name(CODE))) == 5, what="5 diagnostics")
        kinds = {m["name"] for m in server.history(debug_channel_name(CODE))}
        assert kinds == {"malformed"}
        assert await bus.healthy()

    await asyncio.wait_for(body(), 15)


async def test_a_failing_handler_does_not_stop_delivery(make_bus: BusFactory) -> None:
    async def body() -> None:
        a, b = await make_bus(), await make_bus()
        got, handler = collector()

        async def broken(event: Event) -> None:
            raise RuntimeError("boom")

        await b.subscribe(CODE, broken)
        await b.subscribe(CODE, handler)
        for seq in (1, 2):
            await a.publish(sequenced(CODE, seq))
        await wait_until(lambda: [e.seq for e in got] == [1, 2], what="both events")

    await asyncio.wait_for(body(), 15)


async def test_publish_raises_on_nack_and_on_a_missing_ack(
    server: AblyTestServer, make_bus: BusFactory
) -> None:
    async def body() -> None:
        # NACK: a key that may not publish on sessions:* (key auth keeps the capability of the key).
        read_only = server.add_key(capability={"sessions:*": ["subscribe", "presence"]})
        bus = await make_bus(auth="key", key=read_only)
        with pytest.raises(PublishError, match="40160") as refused:
            await bus.publish(sequenced(CODE, 1))
        assert not refused.value.retryable and refused.value.code == 40160  # permanent: not retried
        status, reason = bus.health()
        assert status == "degraded" and reason is not None and "40160" in reason

        # No ACK in time: raised after publish_timeout; the SDK still holds the message.
        ok = await make_bus(publish_timeout=0.5)
        server.lose_ack_next(1)
        with pytest.raises(BusUnavailable, match="no ACK"):
            await ok.publish(sequenced(CODE, 2))
        # The caller's retry of the same seq is dropped by id; it is acked and stored once.
        server.reset_faults()
        await ok.publish(sequenced(CODE, 3))
        assert [m["id"] for m in server.history(channel_name(CODE))] == [f"{CODE}:2", f"{CODE}:3"]

        with pytest.raises(ValueError):
            await ok.publish(sequenced(CODE, 4).model_copy(update={"seq": None}))

    await asyncio.wait_for(body(), 20)


async def test_debug_is_best_effort_and_never_raises(server: AblyTestServer, make_bus: BusFactory) -> None:
    async def body() -> None:
        bus = await make_bus()
        await bus.debug(CODE, "rejected", {"eventId": "e1", "reason": "card moved", "odd": {1, 2}})
        await wait_until(lambda: server.history(debug_channel_name(CODE)), what="a diagnostic")
        (msg,) = server.history(debug_channel_name(CODE))
        data = json.loads(msg["data"])
        assert msg["name"] == "rejected" and data["eventId"] == "e1" and data["kind"] == "rejected"
        # Publishing does not attach anything.
        assert server_channels(server, bus) == []
        await bus.close()
        await bus.debug(CODE, "rejected", {"x": 1})  # closed: dropped silently
        assert not await bus.healthy()

    await asyncio.wait_for(body(), 15)


async def test_selective_subscriptions_detach_when_the_last_holder_leaves(
    server: AblyTestServer, make_bus: BusFactory
) -> None:
    async def body() -> None:
        bus = await make_bus()
        _, h1 = collector()
        _, h2 = collector()
        s1 = await bus.subscribe(CODE, h1)
        s2 = await bus.subscribe(CODE, h2)
        other = await bus.subscribe("WXYZ99", h1)
        assert sorted(server_channels(server, bus)) == [channel_name(CODE), channel_name("WXYZ99")]
        await s1.close()
        assert channel_name(CODE) in server_channels(server, bus)  # s2 still holds it
        await s2.close()
        await s2.close()  # idempotent
        assert server_channels(server, bus) == [channel_name("WXYZ99")]
        assert bus.subscribed_sessions() == {"WXYZ99"}
        assert channel_name(CODE) not in bus._client.channels._Channels__all  # released in the SDK too
        await other.close()
        assert server_channels(server, bus) == []
        assert server.counters.detached == 2

        # Presence holds the channel too: a local tab attaches it, its leaving detaches it.
        bus.presence.enter("tab-1", CODE, "p1")
        await wait_until(lambda: server_channels(server, bus) == [channel_name(CODE)], what="attach")
        await wait_until(lambda: server.presence_members(channel_name(CODE)), what="enter")
        sub = await bus.subscribe(CODE, h1)
        bus.presence.leave("tab-1")
        await wait_until(lambda: not server.presence_members(channel_name(CODE)), what="leave")
        await stays(lambda: server_channels(server, bus) == [channel_name(CODE)], 0.2, "hub still holds it")
        await sub.close()
        await wait_until(lambda: server_channels(server, bus) == [], what="detach")
        assert bus.attached_sessions() == set()

    await asyncio.wait_for(body(), 20)


async def test_subscribe_while_ably_is_down_attaches_later_and_resyncs(
    make_server, make_bus: BusFactory
) -> None:
    async def body() -> None:
        server = await make_server()
        bus = await make_bus(server, attach_timeout=0.5)
        resynced: list[str] = []

        async def resync(code: str) -> None:
            resynced.append(code)

        bus.on_resync(resync)
        await server.stop_for(1.0)
        _, handler = collector()
        sub = await bus.subscribe(CODE, handler)  # returns after attach_timeout; the SDK keeps trying
        assert bus.subscribed_sessions() == {CODE}
        assert not await bus.healthy()
        await wait_until(lambda: resynced == [CODE], timeout=8, what="a resync once attached")
        assert await bus.healthy()
        await sub.close()

    await asyncio.wait_for(body(), 20)


def test_a_bus_needs_a_key() -> None:
    """(The settings parse and validate the ABLY_* variables: tests/app/test_settings.py.)"""
    with pytest.raises(ValueError, match="key"):
        AblyBus({})


async def test_the_environment_reaches_the_local_server(
    server: AblyTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented variables, through the settings and the composition root, reach a real server."""

    async def body() -> None:
        for token in ("0", "1"):
            env = {
                "ABLY_API_KEY": server.key,
                "ABLY_ENDPOINT": server.endpoint,
                "ABLY_TLS": "0",
                "ABLY_USE_TOKEN_AUTH": token,
            }
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            bus = make_bus(load_settings())
            assert isinstance(bus, AblyBus)
            try:
                await bus.start()
                await bus.start()  # idempotent
                assert await bus.healthy()
                await bus.publish(sequenced(CODE, int(token) + 1))
            finally:
                await bus.close()
        assert len(server.history(channel_name(CODE))) == 2

    await asyncio.wait_for(body(), 20)


async def test_start_fails_clearly_on_a_rejected_key(server: AblyTestServer) -> None:
    async def body() -> None:
        bus = AblyBus(
            {
                "key": "cardsort.nokey:wrong",
                "endpoint": server.endpoint,
                "tls": False,
                "use_token_auth": False,
                "fallback_hosts": [],
                "realtime_request_timeout": 1500,
            }
        )
        try:
            with pytest.raises(BusUnavailable, match="failed"):
                await bus.start()
            assert not await bus.healthy()
        finally:
            await bus.close()

    await asyncio.wait_for(body(), 15)
