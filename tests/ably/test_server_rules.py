"""Ably's documented rules, as the local test server enforces them, checked with the real `ably` SDK.

Every test names the Ably page its rule comes from (see tests/support/ably_server/rules.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

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
