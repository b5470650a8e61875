"""Property tests over random valid logs (see ``strategies.valid_log``)."""

from __future__ import annotations

import functools
import json
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardsort_app.domain.events import Event, Pile, parse_event
from cardsort_app.domain.optimistic import OptimisticState
from cardsort_app.domain.reducer import reduce, replay
from cardsort_app.domain.rules import FINAL_STEP, selection_sizes
from cardsort_app.domain.state import PILES, SessionState
from tests.unit.strategies import CODE, logs

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def unsequenced(event: Event) -> Event:
    return event.model_copy(update={"seq": None})


def prefix_states(log: list[Event]) -> list[SessionState]:
    """states[k] = state after the first k events."""
    states = [SessionState.empty(log[0].session_code)]
    for event in log:
        states.append(reduce(states[-1], event))
    return states


def assert_invariants(state: SessionState) -> None:
    top8_size, top3_size = selection_sizes(len(state.card_ids))
    for person in state.participants.values():
        assert list(person.piles) == list(PILES)
        assert Counter(c for p in PILES for c in person.pile(p)) == Counter(state.card_ids)  # a partition
        assert 1 <= person.step <= FINAL_STEP
        if person.step >= 2:
            assert person.pile(Pile.UNSORTED) == ()
        if person.step < 3:
            assert person.pile(Pile.TOP3) == ()
        if person.step == 1:
            assert person.pile(Pile.TOP8) == ()
        if person.step >= 3:
            assert len(person.top8) == top8_size
        if person.step == FINAL_STEP:
            assert len(person.top3) == top3_size
    keys = [(r.participant_id, r.reveal_type) for r in state.reveals]
    assert len(keys) == len(set(keys))  # one reveal per participant per type
    for r in state.reveals:
        # A reveal is withdrawn as soon as it could stop being true, so it always matches the piles.
        assert set(r.cards) == set(state.participants[r.participant_id].selection(r.reveal_type))


@PROPERTY
@given(logs())
def test_replay_equals_state_built_event_by_event(log: list[Event]) -> None:
    states = prefix_states(log)
    assert replay(log) == functools.reduce(reduce, log, SessionState.empty(CODE)) == states[-1]
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    assert states[-1].version == len(log)
    for state in states[1:]:
        assert_invariants(state)


@PROPERTY
@given(logs())
def test_replay_of_the_wire_form_is_the_same(log: list[Event]) -> None:
    over_the_wire = [parse_event(e.to_json()) for e in log]
    assert over_the_wire == log
    assert replay(over_the_wire) == replay(log)


@PROPERTY
@given(st.data())
def test_snapshot_plus_tail_equals_full_replay(data: st.DataObject) -> None:
    log = data.draw(logs())
    cut = data.draw(st.integers(0, len(log)))
    head = replay(log[:cut], SessionState.empty(CODE))
    snapshot = SessionState.from_dict(json.loads(json.dumps(head.to_dict())))
    assert snapshot == head
    assert replay(log[cut:], snapshot) == replay(log)


@PROPERTY
@given(st.data())
def test_pending_events_that_are_the_next_in_the_log_show_the_future(data: st.DataObject) -> None:
    """A tab whose pending events are sequenced next sees exactly the state the log will reach."""
    log = data.draw(logs())
    k = data.draw(st.integers(1, len(log)))
    j = data.draw(st.integers(k, len(log)))
    states = prefix_states(log)
    tab = OptimisticState(states[k], [unsequenced(e) for e in log[k:j]])
    view, future = tab.view, states[j]
    assert tab.skipped == ()
    assert view.participants == future.participants
    assert [(r.participant_id, r.reveal_type, r.cards) for r in view.reveals] == [
        (r.participant_id, r.reveal_type, r.cards) for r in future.reveals
    ]
    assert view.version == states[k].version


@PROPERTY
@given(st.data())
def test_optimistic_state_converges_once_everything_is_confirmed_or_rejected(data: st.DataObject) -> None:
    """A tab sending some log events early, plus doomed ones the server refuses, ends on the log."""
    log = data.draw(logs())
    n = len(log)
    states = prefix_states(log)
    own = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    tab = OptimisticState(SessionState.empty(CODE))
    confirmed = sent = doomed_total = 0
    doomed: list[str] = []
    while True:
        next_own = next((i for i in range(max(sent, confirmed), n) if own[i]), None)
        options = []
        if confirmed < n:
            options.append("confirm")
        if next_own is not None:
            options.append("send")
        if doomed_total < 4:
            options.append("doom")
        if doomed:
            options.append("reject")
        if confirmed == n and not doomed:
            break
        choice = data.draw(st.sampled_from(options))
        if choice == "confirm":
            tab.confirm(log[confirmed])
            confirmed += 1
            assert tab.confirmed == states[confirmed]
            tab.confirm(log[confirmed - 1])  # a repeat is ignored
        elif choice == "send":
            assert next_own is not None
            tab.apply_optimistically(unsequenced(log[next_own]))
            sent = next_own + 1
        elif choice == "doom":
            # A command built from some past state and refused by the server: a copy with a new id.
            source = log[data.draw(st.integers(0, n - 1))]
            ghost = source.model_copy(update={"seq": None, "id": f"doomed-{doomed_total}"})
            tab.apply_optimistically(ghost)
            doomed.append(ghost.id)
            doomed_total += 1
        else:
            victim = data.draw(st.sampled_from(doomed))
            doomed.remove(victim)
            tab.reject(victim)
        assert_invariants(tab.view)
        assert {e.id for e in tab.pending} <= {e.id for e in log[confirmed:]} | set(doomed)
    assert tab.pending == []
    assert tab.view == tab.confirmed == replay(log)
