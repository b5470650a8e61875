"""OptimisticState: pending on top of confirmed, rebase on confirm, roll back on reject."""

from __future__ import annotations

import pytest

from cardsort_app.domain.events import Pile
from cardsort_app.domain.optimistic import Gap, OptimisticState
from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.rules import join, move_card, transition
from tests.unit.helpers import MINI, session_with


def test_optimistic_change_shows_at_once_and_leaves_confirmed_alone() -> None:
    state = session_with()
    tab = OptimisticState(state)
    event = move_card(state, "p1", MINI[0], Pile.IMPORTANT)
    view = tab.apply_optimistically(event)
    assert view.participants["p1"].pile(Pile.IMPORTANT) == (MINI[0],)
    assert tab.confirmed is state
    assert tab.pending == [event] and tab.is_pending(event.id)
    assert tab.view is view  # cached until something changes


def test_confirming_own_event_clears_pending() -> None:
    state = session_with()
    tab = OptimisticState(state)
    event = move_card(state, "p1", MINI[0], Pile.IMPORTANT)
    tab.apply_optimistically(event)
    view = tab.confirm(event.sequenced(state.version + 1))
    assert tab.pending == []
    assert view == tab.confirmed == reduce(state, event.sequenced(state.version + 1))


def test_repeated_confirm_is_ignored() -> None:
    state = session_with()
    tab = OptimisticState(state)
    event = move_card(state, "p1", MINI[0], Pile.IMPORTANT).sequenced(state.version + 1)
    tab.confirm(event)
    confirmed = tab.confirmed
    assert tab.confirm(event) == confirmed
    assert tab.confirmed is confirmed


def test_gap_raises_with_expected_seq_and_changes_nothing() -> None:
    state = session_with()
    tab = OptimisticState(state)
    event = move_card(state, "p1", MINI[0], Pile.IMPORTANT).sequenced(state.version + 3)
    with pytest.raises(Gap) as info:
        tab.confirm(event)
    assert (info.value.expected, info.value.got) == (state.version + 1, state.version + 3)
    assert tab.confirmed is state


def test_confirm_needs_a_sequenced_event() -> None:
    state = session_with()
    with pytest.raises(ValueError):
        OptimisticState(state).confirm(move_card(state, "p1", MINI[0], Pile.IMPORTANT))


def test_others_events_rebase_pending_ones() -> None:
    state = session_with()
    tab = OptimisticState(state)
    mine = move_card(state, "p1", MINI[0], Pile.IMPORTANT)
    tab.apply_optimistically(mine)
    theirs = move_card(state, "p2", MINI[0], Pile.NOT_IMPORTANT).sequenced(state.version + 1)
    view = tab.confirm(theirs)
    assert view.participants["p1"].pile(Pile.IMPORTANT) == (MINI[0],)
    assert view.participants["p2"].pile(Pile.NOT_IMPORTANT) == (MINI[0],)
    assert view.version == state.version + 1
    assert tab.skipped == ()


def test_conflicting_pending_event_is_skipped_then_rolled_back() -> None:
    state = session_with()
    tab = OptimisticState(state)
    mine = move_card(state, "p1", MINI[0], Pile.IMPORTANT)
    after_mine = move_card(tab.apply_optimistically(mine), "p1", MINI[0], Pile.VERY_IMPORTANT)
    tab.apply_optimistically(after_mine)
    # Another tab of the same participant moved the card first: both pending moves are now impossible.
    other_tab = move_card(state, "p1", MINI[0], Pile.NOT_IMPORTANT).sequenced(state.version + 1)
    view = tab.confirm(other_tab)
    assert view == tab.confirmed
    assert tab.skipped == (mine.id, after_mine.id)
    tab.reject(mine.id)
    assert tab.reject(after_mine.id) == tab.confirmed
    assert tab.pending == [] and tab.skipped == ()


def test_reject_rolls_back_a_valid_looking_change() -> None:
    state = session_with()
    tab = OptimisticState(state)
    event = transition(state, "p2", -1)  # refused by the server in this story
    tab.apply_optimistically(move_card(state, "p1", MINI[0], Pile.IMPORTANT))
    tab.apply_optimistically(event)
    view = tab.reject(tab.pending[0].id)
    assert view == state and tab.pending == [event]


def test_reset_clears_pending_unless_asked_to_keep_it() -> None:
    state = session_with()
    later = reduce(state, join(state, "p3", "Cleo").sequenced(state.version + 1))
    tab = OptimisticState(state)
    event = move_card(state, "p1", MINI[0], Pile.IMPORTANT)
    tab.apply_optimistically(event)
    view = tab.reset(later, keep_pending=True)
    assert tab.pending == [event] and view.participants["p1"].pile(Pile.IMPORTANT) == (MINI[0],)
    assert tab.reset(later) == later and tab.pending == []


def test_pending_events_can_be_given_up_front() -> None:
    state = session_with()
    event = move_card(state, "p1", MINI[0], Pile.IMPORTANT)
    tab = OptimisticState(state, [event])
    assert tab.view == reduce(state, event)
