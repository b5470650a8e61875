"""AblyPresence: Ably presence on sessions:{code} (client id = participant id) drives `online`, across
workers, once per change; a worker whose Ably connection dies takes its participants offline on the
others within the server's presence grace, and they come back online when it returns."""

from __future__ import annotations

import asyncio
import time

import pytest

from cardsort_app.bus.ably_bus import channel_name
from cardsort_app.bus.inprocess_presence import InProcessPresence
from tests.support.ably_server import AblyTestServer

from .conftest import BusFactory
from .helpers import CODE, connection_log, kill_connection, stays, wait_until

Change = tuple[str, str, bool]


def recorder(presence) -> list[Change]:
    heard: list[Change] = []
    presence.listen(lambda code, pid, online: heard.append((code, pid, online)))
    return heard


async def noop(event) -> None:  # a hub-like subscription that only holds the channel
    return None


@pytest.mark.parametrize("auth", ["token", "key"])
async def test_a_participant_entered_on_one_worker_is_online_on_another(
    server: AblyTestServer, make_bus: BusFactory, auth: str
) -> None:
    async def body() -> None:
        a, b = await make_bus(auth=auth), await make_bus(auth=auth)
        await b.subscribe(CODE, noop)  # B's hub holds the session (B has no tab of its own in it)
        heard_a, heard_b = recorder(a.presence), recorder(b.presence)

        a.presence.enter("tab-a1", CODE, "p1")
        assert a.presence.is_online(CODE, "p1")  # at once on the worker that holds the tab
        await wait_until(lambda: b.presence.is_online(CODE, "p1"), what="p1 online on B")
        assert b.presence.online(CODE) == {"p1"} == a.presence.online(CODE)
        (member,) = server.presence_members(channel_name(CODE))
        assert member["clientId"] == "p1"
        # A worker that attaches later gets the member set in the attach's presence sync.
        c = await make_bus(auth=auth)
        await c.subscribe(CODE, noop)
        assert await c.presence.synced(CODE) == {"p1"}

        a.presence.leave("tab-a1")
        await wait_until(lambda: not b.presence.is_online(CODE, "p1"), what="p1 offline on B")
        await wait_until(lambda: not a.presence.online(CODE), what="p1 offline on A")
        await wait_until(lambda: not c.presence.online(CODE), what="p1 offline on C")
        assert heard_a == heard_b == [(CODE, "p1", True), (CODE, "p1", False)]
        assert server.presence_members(channel_name(CODE)) == []

    await asyncio.wait_for(body(), 20)


async def test_two_tabs_of_one_participant_on_two_workers_are_one_online_person(
    server: AblyTestServer, make_bus: BusFactory
) -> None:
    async def body() -> None:
        a, b = await make_bus(), await make_bus()
        # Both workers show the session (their hubs hold it), e.g. a facilitator's dashboard on each.
        await a.subscribe(CODE, noop)
        await b.subscribe(CODE, noop)
        heard_a, heard_b = recorder(a.presence), recorder(b.presence)
        a.presence.enter("tab-a", CODE, "p1")
        b.presence.enter("tab-b", CODE, "p1")
        b.presence.enter("tab-b2", CODE, "p2")
        both = lambda: len(server.presence_members(channel_name(CODE))) == 3  # noqa: E731
        await wait_until(both, what="p1 entered by both workers, p2 by B")
        await wait_until(
            lambda: a.presence.online(CODE) == {"p1", "p2"} == b.presence.online(CODE), what="sync"
        )

        a.presence.leave("tab-a")  # B still holds p1
        await wait_until(lambda: len(server.presence_members(channel_name(CODE))) == 2, what="A's leave")
        await stays(
            lambda: a.presence.is_online(CODE, "p1") and b.presence.is_online(CODE, "p1"), 0.3, "p1 online"
        )

        b.presence.leave("tab-b")  # the last tab of p1
        await wait_until(lambda: not a.presence.is_online(CODE, "p1"), what="p1 offline on A")
        await wait_until(lambda: not b.presence.is_online(CODE, "p1"), what="p1 offline on B")
        await stays(lambda: a.presence.online(CODE) == {"p2"} == b.presence.online(CODE), 0.2, "p2 online")
        # Once per change on each worker, never a duplicate for the second tab.
        p1 = [(CODE, "p1", True), (CODE, "p1", False)]
        assert [h for h in heard_a if h[1] == "p1"] == p1 == [h for h in heard_b if h[1] == "p1"]
        assert (
            [h for h in heard_a if h[1] == "p2"]
            == [(CODE, "p2", True)]
            == [h for h in heard_b if h[1] == "p2"]
        )

    await asyncio.wait_for(body(), 20)


@pytest.mark.parametrize("resumes", [True, False], ids=["resumed", "new-connection"])
async def test_a_dead_worker_connection_takes_its_participants_offline_and_back(
    make_server, make_bus: BusFactory, resumes: bool
) -> None:
    async def body() -> None:
        # Without resume the server forgets A's connection (state TTL < outage): A comes back new.
        ttl = 120_000 if resumes else 1_000
        server: AblyTestServer = await make_server(presence_grace_ms=500, connection_state_ttl_ms=ttl)
        a, b = await make_bus(server), await make_bus(server)
        await b.subscribe(CODE, noop)
        heard_b = recorder(b.presence)
        a.presence.enter("tab-a", CODE, "p1")
        await wait_until(lambda: b.presence.is_online(CODE, "p1"), what="p1 online on B")
        a_states = connection_log(a)

        killed_at = time.monotonic()
        kill_connection(server, a, hold_for=3.0)  # A's network is gone for 3 s; B stays connected
        offline_after = await wait_until(lambda: not b.presence.is_online(CODE, "p1"), 5, "p1 offline on B")
        assert a.presence.is_online(CODE, "p1")  # A still has the tab; only the others lost sight of it

        await wait_until(lambda: any(s == "connected" and t > killed_at for t, s in a_states), 10, "A back")
        back_after = await wait_until(lambda: b.presence.is_online(CODE, "p1"), 5, "p1 online again on B")
        assert heard_b == [(CODE, "p1", True), (CODE, "p1", False), (CODE, "p1", True)]
        assert [m["clientId"] for m in server.presence_members(channel_name(CODE))] == ["p1"]
        await stays(lambda: len(heard_b) == 3, 0.3, "no further change")
        assert (server.counters.resume_failed > 0) is not resumes
        print(
            f"dead worker: offline on B after {offline_after:.2f}s, "
            f"online again {back_after:.2f}s after A reconnected"
        )

    await asyncio.wait_for(body(), 25)


async def test_a_tab_that_leaves_while_its_worker_is_cut_off_does_not_come_back(
    make_server, make_bus: BusFactory
) -> None:
    """The SDK re-enters its own members after a re-attach (RTP17); one whose leave was still queued
    must not stay behind as a ghost on the other workers."""

    async def body() -> None:
        server: AblyTestServer = await make_server(presence_grace_ms=500)
        a, b = await make_bus(server, presence_timeout=0.5), await make_bus(server)
        await a.subscribe(CODE, noop)
        await b.subscribe(CODE, noop)
        a.presence.enter("t1", CODE, "p1")
        a.presence.enter("t2", CODE, "p2")
        await wait_until(lambda: b.presence.online(CODE) == {"p1", "p2"}, what="both online on B")
        a_states = connection_log(a)
        killed_at = time.monotonic()
        kill_connection(server, a, hold_for=2.0)
        await asyncio.sleep(0.1)
        a.presence.leave("t1")  # its leave waits in the SDK's queue
        assert a.presence.online(CODE) == {"p2"}
        await wait_until(lambda: any(s == "connected" and t > killed_at for t, s in a_states), 10, "A back")
        await wait_until(lambda: b.presence.online(CODE) == {"p2"}, 5, "only p2 online on B")
        await stays(lambda: b.presence.online(CODE) == {"p2"}, 1.0, "p1 stays offline")
        assert [m["clientId"] for m in server.presence_members(channel_name(CODE))] == ["p2"]

    await asyncio.wait_for(body(), 25)


async def test_single_worker_semantics_match_the_in_process_presence(make_bus: BusFactory) -> None:
    async def body() -> None:
        bus = await make_bus()
        reference = InProcessPresence()
        heard_ably, heard_ref = recorder(bus.presence), recorder(reference)
        script = [
            ("enter", "t1", CODE, "p1"),
            ("enter", "t2", CODE, "p1"),  # a second tab: no change
            ("enter", "t3", CODE, "p2"),
            ("enter", "t3", CODE, "p2"),  # a repeat: no change
            ("leave", "t1"),
            ("enter", "t2", "WXYZ99", "p1"),  # a tab moving to another session
            ("leave", "t3"),
            ("leave", "nobody"),
        ]
        for op, token, *where in script:
            for presence in (bus.presence, reference):
                if op == "enter":
                    presence.enter(token, *where)
                else:
                    presence.leave(token)
            # Locally the answer is immediate; then Ably's echo must not change it.
            assert bus.presence.online(CODE) == reference.online(CODE)
            await asyncio.sleep(0.05)
        await stays(
            lambda: bus.presence.online("WXYZ99") == {"p1"} and not bus.presence.online(CODE), 0.5, "end"
        )
        assert heard_ably == heard_ref
        bus.presence.leave("t2")
        await wait_until(lambda: bus.attached_sessions() == set(), what="both channels released")

    await asyncio.wait_for(body(), 20)
