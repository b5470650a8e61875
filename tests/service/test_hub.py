"""SessionHub: projections fed in strict seq order whatever the bus does (DESIGN §2 (c)).

The property test appends a generated valid log to a real store (so a gap can be filled from it), lets a
fresh hub load a prefix, then delivers the rest through ``receive`` duplicated, reordered and with drops.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cardsort_app.bus.inprocess import InProcessBus
from cardsort_app.domain import rules
from cardsort_app.domain.events import Event, Pile
from cardsort_app.domain.reducer import replay
from cardsort_app.domain.state import SessionState
from cardsort_app.service.hub import SessionHub
from cardsort_app.service.runtime import Runtime
from cardsort_app.store.async_store import AsyncStore
from cardsort_app.store.errors import UnknownSession
from cardsort_app.store.eventstore import EventStore
from tests.unit.strategies import valid_log

from .helpers import move, new_session

_codes = itertools.count()
_RUN = uuid.uuid4().hex[:4].upper()


@pytest.fixture(scope="module")
def store(db_url: str) -> Iterator[AsyncStore]:
    """One store for the module (hypothesis runs many examples per test): snapshots every 7 events, so
    loading a prefix exercises snapshot + tail."""
    sync = EventStore(db_url, snapshot_every=7)
    yield AsyncStore(sync)
    sync.dispose()


class Recorder:
    """A listener: every call must carry a non-empty, in-order run of seqs ending at the new version."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.calls = 0

    def __call__(self, state: SessionState, events: Sequence[Event]) -> None:
        self.calls += 1
        assert events, "a listener was called without events"
        assert state.version == events[-1].seq
        self.seqs.extend(e.seq for e in events)


@st.composite
def scenarios(draw):
    code = f"H{_RUN}{next(_codes):06d}"
    log = valid_log(draw, code=code, max_events=30)
    loaded = draw(st.integers(1, len(log)))  # the hub loads when the log holds this many events
    rest = list(range(loaded, len(log)))  # indexes of the events the bus should deliver
    dropped = draw(st.sets(st.sampled_from(rest), min_size=1)) if rest and draw(st.booleans()) else set()
    base = [i for i in rest if i not in dropped]
    repeats = draw(st.lists(st.sampled_from(rest), max_size=len(rest))) if rest else []
    stale = draw(st.lists(st.integers(0, loaded - 1), max_size=3))  # events the hub loaded already
    order = draw(st.permutations(base + repeats + stale))
    concurrent = draw(st.booleans())
    event("drops" if dropped else "no drops")
    event("reordered" if order != sorted(order) else "in order")
    event(f"{len(rest)} events to deliver" if len(rest) < 5 else "5+ events to deliver")
    return log, loaded, order, concurrent


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_hub_converges_whatever_the_delivery(store: AsyncStore, scenario) -> None:
    log, loaded, order, concurrent = scenario
    code = log[0].session_code

    async def run() -> None:
        await store.create_session(code, "Property test", log[0].payload.deck, "hash")
        await asyncio.to_thread(store.sync.append_many, log[:loaded])
        bus = InProcessBus()
        hub = SessionHub(store, bus)
        recorder = Recorder()
        start = await hub.listen(code, recorder)
        assert start == replay(log[:loaded])
        await asyncio.to_thread(store.sync.append_many, log[loaded:])

        deliveries = [log[i] for i in order]
        if concurrent:
            await asyncio.gather(*(hub.receive(e) for e in deliveries))
        else:
            for e in deliveries:
                await hub.receive(e)

        state = hub.loaded(code)
        assert state is not None
        delivered = {e.seq for e in deliveries}
        assert state.version >= max(delivered, default=loaded)
        assert state == replay(log[: state.version])
        if len(log) in delivered:  # the newest event arrived: applied in order or after a gap fetch
            assert state == replay(log)

        assert await hub.catch_up(code) == replay(log) == hub.loaded(code)
        assert await hub.catch_up(code) == replay(log)  # a second catch-up changes nothing
        assert recorder.seqs == list(range(loaded + 1, len(log) + 1))
        assert recorder.calls <= len(log) - loaded
        await bus.close()

    asyncio.run(run())


# --- examples ----------------------------------------------------------------------------------------
async def test_a_gap_is_filled_from_the_log(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    code = created.code
    other_bus = InProcessBus()
    hub = SessionHub(rt.store, other_bus)  # another process's hub: it hears only what we hand it
    recorder = Recorder()
    start = await hub.listen(code, recorder)
    state = await rt.hub.state(code)
    made = [await move(rt, code, ann, card, Pile.IMPORTANT) for card in state.card_ids[:4]]
    assert hub.loaded(code) == start  # nobody told it yet
    await hub.receive(made[2])  # seq v+3 with v+1, v+2 missing: the log fills the gap (and has v+4 too)
    assert hub.loaded(code).version == made[3].seq
    await hub.receive(made[0])  # late repeats: ignored
    await hub.receive(made[3])
    assert hub.loaded(code) == await rt.hub.state(code) == rt.store.sync.load_full(code)
    assert recorder.seqs == [e.seq for e in made]
    # an unsequenced event and an event of a session this hub does not hold are ignored
    await hub.receive(made[3].model_copy(update={"seq": None}))
    other, _ = await new_session(rt)
    await hub.receive((await rt.store.events_after(other.code, 0))[0])
    assert hub.active_sessions() == [code]


async def test_hub_follows_the_shared_bus(rt: Runtime) -> None:
    """A second hub on the same bus (another tab's process, same worker) is fed by publish alone."""
    created, (ann,) = await new_session(rt, "Ann")
    code = created.code
    hub = SessionHub(rt.store, rt.bus)
    await hub.state(code)
    state = await rt.hub.state(code)
    for card in state.card_ids[:3]:
        await move(rt, code, ann, card, Pile.NOT_IMPORTANT)
    await rt.relay.flush()  # publishing is the outbox relay's job, just after the append
    assert hub.loaded(code) == await rt.hub.state(code) == rt.store.sync.load_full(code)
    assert rt.store.sync.unpublished(code) == []  # and the log knows it was published


async def test_concurrent_first_loads_share_one_loaded_projection(rt: Runtime) -> None:
    """Callers arriving while the first load runs wait for it: none of them gets the empty state."""
    created, _ = await new_session(rt, "Ann")
    bus = InProcessBus()
    hub = SessionHub(rt.store, bus)
    first = asyncio.ensure_future(hub.state(created.code))
    await asyncio.sleep(0)  # the load has started: the projection is registered, still empty
    assert hub.loaded(created.code) is None
    await hub.release(created.code)  # nobody listens yet, but a loader is about to hand it out: kept
    states = await asyncio.gather(
        first, *(hub.state(created.code) for _ in range(5)), hub.listen(created.code, Recorder())
    )
    expected = rt.store.sync.load_full(created.code)
    assert all(s == expected for s in states), [s.version for s in states]
    assert hub.loaded(created.code) == expected
    assert bus.subscribed_sessions() == {created.code}
    assert len(bus._handlers[created.code]) == 1  # one subscription, not seven


async def test_command_on_a_cold_worker_while_a_tab_loads(rt: Runtime, second_worker: Runtime) -> None:
    """A worker that has not loaded the session yet: a tab's listen and a command arrive together. The
    command must be decided on the loaded session, not on the empty projection of the running load."""
    created, (ann,) = await new_session(rt, "Ann")
    state = await rt.hub.state(created.code)
    event = rules.move_card(state, ann.participant_id, state.card_ids[0], Pile.IMPORTANT)
    listened, stored = await asyncio.gather(
        second_worker.hub.listen(created.code, Recorder()),
        second_worker.service.submit(created.code, ann, event),
    )
    assert listened.version >= state.version
    assert stored is not None and stored.seq == state.version + 1
    assert await second_worker.hub.state(created.code) == rt.store.sync.load_full(created.code)


async def test_a_failed_load_leaves_no_subscription_behind(rt: Runtime) -> None:
    bus = InProcessBus()
    hub = SessionHub(rt.store, bus)
    for _ in range(3):
        with pytest.raises(UnknownSession):
            await hub.state("NOSUCH")
    assert hub.active_sessions() == []
    assert bus.subscribed_sessions() == set()


async def test_listeners_release_and_a_broken_listener(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    code = created.code
    state = await rt.hub.state(code)
    good = Recorder()

    def broken(_state: SessionState, _events: Sequence[Event]) -> None:
        raise RuntimeError("listener bug")

    await rt.hub.listen(code, broken)
    await rt.hub.listen(code, good)
    first = await move(rt, code, ann, state.card_ids[0], Pile.IMPORTANT)
    assert good.seqs == [first.seq]  # the broken one did not stop it

    await rt.hub.release(code)  # still listened to: kept
    assert code in rt.hub.active_sessions()
    await rt.hub.unlisten(code, broken)
    await rt.hub.unlisten(code, good)
    await rt.hub.unlisten(code, good)  # twice is harmless
    await rt.hub.release(code)
    assert code not in rt.hub.active_sessions() and rt.hub.loaded(code) is None
    assert code not in rt.bus.subscribed_sessions()
    await rt.hub.release(code)  # twice is harmless

    # the next command loads it again from the log
    second = await move(rt, code, ann, state.card_ids[1], Pile.IMPORTANT)
    assert good.seqs == [first.seq]
    assert second.seq == first.seq + 1
    assert await rt.hub.state(code) == rt.store.sync.load_full(code)


async def test_idle_projections_are_released_but_listened_ones_stay(rt: Runtime) -> None:
    """Selective subscriptions: a projection loaded for a REST call is let go once idle; one with a tab
    listening is kept, and releasing closes the bus subscription."""
    watched, _ = await new_session(rt, "Ann")
    rest_only, _ = await new_session(rt, "Bo")
    await rt.hub.listen(watched.code, lambda state, events: None)
    await rt.hub.state(rest_only.code)
    assert await rt.hub.release_idle(idle_for=60) == []  # both were just used
    assert await rt.hub.release_idle(idle_for=0) == [rest_only.code]
    assert rt.hub.active_sessions() == [watched.code]
    assert rest_only.code not in rt.bus.subscribed_sessions()
    assert watched.code in rt.bus.subscribed_sessions()
