"""Property tests of the team board: N participants move cards on views of their own (fresh or stale),
in any interleaving. Whatever the log accepts replays to the same state everywhere, the cap holds, and
a move of a card somebody else moved after the mover's view is never accepted."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cardsort_app.domain import team
from cardsort_app.domain.events import FACILITATOR_ID, Event, TeamCardMovedEvent, TeamPile
from cardsort_app.domain.reducer import reduce, replay
from cardsort_app.domain.rules import DomainError, check, reveal
from cardsort_app.domain.state import SessionState
from tests.unit.helpers import apply, finish_with_top3, joined, session_with

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MOVERS = ("p1", "p2", "p3", FACILITATOR_ID)


@cache
def base() -> SessionState:
    """Three participants revealed their top 3 (different cards), the board is open."""
    state = joined(session_with(1), ("p3", "Cy"))
    # Different (overlapping) top 3s, so the candidates outnumber the cap and some are shared.
    for pid, offset in (("p1", 0), ("p2", 3), ("p3", 5)):
        state = finish_with_top3(state, pid, offset)
        state = apply(state, reveal(state, pid, "top3"))
    return apply(state, team.open_board(state))


def _intent(draw, view: SessionState, mover: str) -> Event:
    cards = [c for c, _ in team.candidates(view)] + list(view.team.values)
    card = draw(st.sampled_from(cards))
    to_pile = draw(st.sampled_from([TeamPile.TEAM_VALUES, TeamPile.CANDIDATES]))
    position = draw(st.integers(0, team.TEAM_CAP + 1))
    return team.move(view, mover, card, to_pile, position)


def assert_invariants(state: SessionState) -> None:
    values = state.team.values
    assert len(values) <= team.TEAM_CAP
    assert len(set(values)) == len(values)
    revealed = set(team.candidate_counts(state))
    assert set(values) <= revealed
    assert not set(values) & {c for c, _ in team.candidates(state)}


@PROPERTY
@given(st.data())
def test_any_interleaving_replays_to_the_same_state_and_the_cap_holds(data) -> None:
    start = base()
    state = start
    views = {m: start for m in MOVERS}
    log: list[Event] = []
    for _ in range(data.draw(st.integers(1, 60))):
        mover = data.draw(st.sampled_from(MOVERS))
        if data.draw(st.integers(0, 3)) == 0:
            views[mover] = state  # the mover's tab catches up with the log
            continue
        move = _intent(data.draw, views[mover], mover)
        try:
            check(state, move)
        except DomainError:
            continue
        sequenced = move.sequenced(state.version + 1)
        state = reduce(state, sequenced)
        log.append(sequenced)
        assert_invariants(state)
    event(f"accepted moves: {min(len(log), 20) // 5 * 5}+")
    # Every replica folding the same sequenced log agrees, with or without a snapshot in between.
    assert replay(log, start) == state
    split = data.draw(st.integers(0, len(log)))
    snap = SessionState.from_dict(replay(log[:split], start).to_dict())
    assert replay(log[split:], snap) == state
    # The decision is deterministic: re-checking the accepted log event by event accepts all of it.
    again = start
    for accepted in log:
        check(again, accepted)
        again = reduce(again, accepted)
    assert again == state
    # First sequenced wins: an accepted move of a card never ignores somebody else's newer move of it.
    last: dict[str, tuple[int, str]] = {}
    for accepted in log:
        assert isinstance(accepted, TeamCardMovedEvent)
        card = accepted.payload.card_id
        if card in last and last[card][1] != accepted.participant_id:
            assert accepted.version >= last[card][0]
        last[card] = (accepted.seq or 0, accepted.participant_id)


@PROPERTY
@given(st.data())
def test_two_movers_of_one_card_on_the_same_view_exactly_one_wins(data) -> None:
    start = base()
    a, b = data.draw(st.permutations(MOVERS).map(lambda m: m[:2]))
    first = _intent(data.draw, start, a)
    to_pile = data.draw(st.sampled_from(list(TeamPile)))
    second = team.move(start, b, first.payload.card_id, to_pile, data.draw(st.integers(0, 5)))
    try:
        check(start, first)
    except DomainError:
        return  # not a legal move at all: nothing to race for
    state = reduce(start, first.sequenced(start.version + 1))
    try:
        check(state, second)
    except DomainError as exc:
        assert str(exc).endswith(f"moved {team.card_label(state, first.payload.card_id)} first")
    else:
        raise AssertionError("a move made without seeing the winning move of the same card was accepted")
