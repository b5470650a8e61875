"""Concurrent commands: one worker with many tasks, and two workers that share only the database."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest

from cardsort_app.domain import rules
from cardsort_app.domain.events import Event, Pile
from cardsort_app.domain.rules import DomainError
from cardsort_app.domain.state import SessionState
from cardsort_app.service.errors import Rejected
from cardsort_app.service.runtime import Runtime
from cardsort_app.service.sessions import Identity

from .helpers import STEP1_PILES, check_log, move, new_session, stored_log

TASKS = 20
ROUNDS = 5
#: Commands one worker floods a session with while another worker sends one.
FLOOD = 80


def _shuffle_build(seed: int):
    """A command that moves one of the participant's cards to another step-1 pile (always valid)."""
    rng = random.Random(seed)

    def build(state: SessionState, pid: str) -> Event:
        card = rng.choice(state.card_ids)
        here = state.participants[pid].pile_of(card)
        return rules.move_card(state, pid, card, rng.choice([p for p in STEP1_PILES if p != here]))

    return build


async def _task(rt: Runtime, code: str, who: Identity, seed: int, outcomes: list[str]) -> None:
    """ROUNDS moves: commands (decided on the current state) and pre-built events sent a moment later
    (by then possibly stale: accepted when still valid, refused when not)."""
    rng = random.Random(seed)
    build = _shuffle_build(seed)
    for _ in range(ROUNDS):
        if rng.random() < 0.5:
            assert await rt.service.command(code, who, build) is not None
            outcomes.append("command")
            continue
        event = build(await rt.hub.state(code), who.participant_id)
        await asyncio.sleep(rng.random() * 0.002)
        try:
            assert await rt.service.submit(code, who, event) is not None
            outcomes.append("accepted")
        except Rejected:
            outcomes.append("rejected")
            assert await rt.store.find_event(event.id) is None


class _Seqs:
    """A hub listener: records every seq it is told about."""

    def __init__(self) -> None:
        self.seqs: list[int] = []

    def __call__(self, state: SessionState, events: Sequence[Event]) -> None:
        assert events and state.version == events[-1].seq
        self.seqs.extend(e.seq for e in events)


def _count_rebases(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records, for every decision, how many events the log had that the worker's hub had not."""
    tails: list[int] = []
    real = rt.store.append_decided

    async def counting(code, base, decide):
        tail, stored = await real(code, base, decide)
        tails.append(len(tail))
        return tail, stored

    monkeypatch.setattr(rt.store, "append_decided", counting)
    return tails


def _count_catch_ups(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = rt.hub.catch_up

    async def counting(code: str) -> SessionState:
        calls.append(code)
        return await real(code)

    monkeypatch.setattr(rt.hub, "catch_up", counting)
    return calls


async def test_concurrent_tasks_in_one_worker(rt: Runtime) -> None:
    created, people = await new_session(rt, "Ann", "Bo", "Cleo", "Dev")
    code = created.code
    listener = _Seqs()
    start = await rt.hub.listen(code, listener)
    outcomes: list[str] = []
    await asyncio.gather(*(_task(rt, code, people[i % len(people)], i, outcomes) for i in range(TASKS)))

    assert len(outcomes) == TASKS * ROUNDS
    log = await stored_log(rt, code)
    final = check_log(code, log)
    assert len(log) == 1 + len(people) + outcomes.count("command") + outcomes.count("accepted")
    hub_state = await rt.hub.state(code)
    assert hub_state == final == rt.store.sync.load_full(code) == await rt.store.load(code)
    assert listener.seqs == list(range(start.version + 1, len(log) + 1))


async def test_two_workers_interleaved(
    rt: Runtime, second_worker: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker has its own hub and its own bus: neither hears the other, so each of them keeps
    starting from a stale projection; the store brings it level inside the append transaction before the
    decision. The log stays valid whatever the interleaving, and nobody is turned away."""
    workers = (rt, second_worker)
    created, people = await new_session(rt, "Ann", "Bo", "Cleo")
    code = created.code
    await second_worker.hub.state(code)
    rebases = [_count_rebases(w, monkeypatch) for w in workers]
    outcomes: list[str] = []
    await asyncio.gather(
        *(_task(workers[i % 2], code, people[i % len(people)], 100 + i, outcomes) for i in range(TASKS))
    )

    log = await stored_log(rt, code)
    final = check_log(code, log)
    assert len(log) == 1 + len(people) + outcomes.count("command") + outcomes.count("accepted")
    assert any(n for tails in rebases for n in tails), (
        "no decision was ever rebased: the stale path was not run"
    )
    for w in workers:
        assert await w.hub.catch_up(code) == final == w.store.sync.load_full(code)


async def test_stale_worker_re_decides_after_a_version_conflict(
    rt: Runtime, second_worker: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    w1, w2 = rt, second_worker
    created, (ann,) = await new_session(w1, "Ann")
    code = created.code
    stale = await w2.hub.state(code)  # w2 will hear nothing of what w1 does next
    x, y, z = stale.card_ids[:3]
    catch_ups = _count_catch_ups(w2, monkeypatch)

    await move(w1, code, ann, x, Pile.IMPORTANT)
    # w2 still sees x as unsorted: its event is checked against the log's state, refused, not appended
    invalid = rules.move_card(stale, ann.participant_id, x, Pile.NOT_IMPORTANT)
    rules.check(stale, invalid)
    with pytest.raises(Rejected, match="already moved"):
        await w2.service.submit(code, ann, invalid)
    assert catch_ups == [code]
    assert (await w2.hub.state(code)).version == (await w1.hub.state(code)).version

    # a stale event that is still valid is rebased onto the newer log
    await move(w1, code, ann, z, Pile.IMPORTANT)
    valid = rules.move_card(stale, ann.participant_id, y, Pile.NOT_IMPORTANT)
    stored = await w2.service.submit(code, ann, valid)
    assert stored is not None and stored.version == stale.version and stored.seq == stale.version + 3
    assert catch_ups == [code]  # no extra round trip: the append transaction brought w2 level
    assert (await w2.hub.state(code)).version == stored.seq

    # w1 has not heard of it (no shared bus) until it meets the log
    await move(w1, code, ann, x, Pile.UNSORTED)  # w1 decides on the log's head, including w2's move
    log = await stored_log(w1, code)
    final = check_log(code, log)
    assert [e.id for e in log[-2:]] == [stored.id, log[-1].id]
    for w in (w1, w2):
        assert await w.hub.catch_up(code) == final == w.store.sync.load_full(code)
    person = final.participants[ann.participant_id]
    assert person.pile(Pile.IMPORTANT) == (z,) and person.pile(Pile.NOT_IMPORTANT) == (y,)
    assert person.pile_of(x) == Pile.UNSORTED


async def test_name_race_between_workers(rt: Runtime, second_worker: Runtime) -> None:
    w1, w2 = rt, second_worker
    created, _ = await new_session(w1)
    code = created.code
    await w2.hub.state(code)
    await w1.service.join(code, "Bo")
    with pytest.raises(Rejected, match="already taken"):
        await w2.service.join(code, "bo")  # w2's projection does not know Bo yet: the log decides
    final = check_log(code, await stored_log(w1, code))
    assert [p.name for p in final.participants.values()] == ["Bo"]
    assert await w2.hub.catch_up(code) == final


async def test_concurrent_joins_with_one_name(rt: Runtime, second_worker: Runtime) -> None:
    created, _ = await new_session(rt)
    code = created.code
    results = await asyncio.gather(
        *(w.service.join(code, "Sam") for w in (rt, second_worker, rt, second_worker)),
        return_exceptions=True,
    )
    joined = [r for r in results if isinstance(r, Identity)]
    assert len(joined) == 1, results
    assert all(isinstance(r, Rejected) for r in results if not isinstance(r, Identity))
    final = check_log(code, await stored_log(rt, code))
    assert list(final.participants) == [joined[0].participant_id]
    with pytest.raises(DomainError):
        rules.check(final, rules.join(final, "p_other", "SAM"))


async def test_a_busy_worker_does_not_starve_another_worker(rt: Runtime, second_worker: Runtime) -> None:
    """One worker floods a session with commands; another worker's single command lands while the flood
    is still going, not behind it: each decision waits for the log's lock like any other, never for a
    backlog, and is never turned away."""
    created, (ann, bo) = await new_session(rt, "Ann", "Bo")
    code = created.code
    await second_worker.hub.state(code)
    await second_worker.service.authenticate(code, bo)  # warm: Bo's worker has checked his token already
    flood = _shuffle_build(1)
    backlog = [asyncio.ensure_future(rt.service.command(code, ann, flood)) for _ in range(FLOOD)]
    while sum(task.done() for task in backlog) < 5:  # the flood is under way
        await asyncio.sleep(0.001)

    bos = await second_worker.service.command(code, bo, _shuffle_build(2))
    waiting = sum(not task.done() for task in backlog)
    anns = await asyncio.gather(*backlog)

    check_log(code, await stored_log(rt, code))
    assert bos is not None and all(e is not None for e in anns)
    assert waiting > 0, "Bo's command returned only once Ann's whole backlog was through"
    assert bos.seq < max(e.seq for e in anns)
