"""The team board's rules and reducer: open/lock, candidates, the cap, first-sequenced-move-wins."""

from __future__ import annotations

import pytest

from cardsort_app.domain import team
from cardsort_app.domain.events import FACILITATOR_ID, TeamPile, parse_event
from cardsort_app.domain.rules import DomainError, check, create_session, is_noop, reveal
from cardsort_app.domain.state import SessionState
from tests.unit.helpers import MINI, apply, finish_with_top3, joined, session_with


def revealed_session() -> SessionState:
    """Ann and Bo finished and revealed their top 3; the team board is open."""
    state = joined(session_with(1), ("p3", "Cy"))
    for pid, offset in (("p1", 0), ("p2", 3)):
        state = finish_with_top3(state, pid, offset)
        state = apply(state, reveal(state, pid, "top3"))
    return apply(state, team.open_board(state))


def test_candidates_are_the_revealed_top3_cards_once_each_most_chosen_first() -> None:
    state = revealed_session()
    ann = set(state.participants["p1"].top3)
    bo = set(state.participants["p2"].top3)
    cands = dict(team.candidates(state))
    assert set(cands) == ann | bo
    assert all(cands[c] == (c in ann) + (c in bo) for c in cands)
    counts = [n for _, n in team.candidates(state)]
    assert counts == sorted(counts, reverse=True)


def test_move_to_team_values_and_back_and_reorder() -> None:
    state = revealed_session()
    c1, c2, c3 = [c for c, _ in team.candidates(state)][:3]
    for card in (c1, c2, c3):
        state = apply(state, team.move(state, "p1", card, TeamPile.TEAM_VALUES))
    assert state.team.values == (c1, c2, c3)
    assert c1 not in dict(team.candidates(state))
    state = apply(state, team.move(state, "p2", c3, TeamPile.TEAM_VALUES, 0))  # move c3 up to the top
    assert state.team.values == (c3, c1, c2)
    assert state.team.moves[c3].participant_name == "Bo"
    state = apply(state, team.move(state, FACILITATOR_ID, c1, TeamPile.CANDIDATES))
    assert state.team.values == (c3, c2)
    assert state.team.moves[c1].participant_name == team.FACILITATOR_NAME
    assert c1 in dict(team.candidates(state))


def test_the_cap_refuses_a_sixth_card() -> None:
    state = revealed_session()
    cards = [c for c, _ in team.candidates(state)]
    assert len(cards) >= team.TEAM_CAP + 1
    for card in cards[: team.TEAM_CAP]:
        state = apply(state, team.move(state, "p1", card, TeamPile.TEAM_VALUES))
    with pytest.raises(DomainError, match=r"full \(5\)"):
        check(state, team.move(state, "p2", cards[team.TEAM_CAP], TeamPile.TEAM_VALUES))


def test_only_revealed_top3_cards_are_candidates() -> None:
    state = revealed_session()
    outside = next(c for c in state.card_ids if c not in dict(team.candidates(state)))
    with pytest.raises(DomainError, match="not a candidate"):
        check(state, team.move(state, "p1", outside, TeamPile.TEAM_VALUES))


def test_the_first_sequenced_move_wins_and_the_loser_hears_who_won() -> None:
    state = revealed_session()
    card = team.candidates(state)[0][0]
    sam = team.move(state, "p1", card, TeamPile.TEAM_VALUES)  # both built on the same view
    bo = team.move(state, "p2", card, TeamPile.TEAM_VALUES)
    state = apply(state, sam)
    with pytest.raises(DomainError) as refused:
        check(state, bo)
    assert str(refused.value) == f"Ann moved {team.card_label(state, card)} first"


def test_a_reorder_on_a_view_that_missed_a_move_of_the_same_card_loses() -> None:
    state = revealed_session()
    a, b = [c for c, _ in team.candidates(state)][:2]
    state = apply(state, team.move(state, "p1", a, "team-values"))
    state = apply(state, team.move(state, "p1", b, "team-values"))
    view = state
    state = apply(state, team.move(state, "p1", b, "team-values", 0))
    with pytest.raises(DomainError, match="Ann moved"):
        check(state, team.move(view, "p2", b, "candidates"))


def test_a_stale_move_of_another_card_is_rebased_not_refused() -> None:
    state = revealed_session()
    a, b = [c for c, _ in team.candidates(state)][:2]
    view = state
    state = apply(state, team.move(state, "p1", a, "team-values"))
    state = apply(state, team.move(view, "p2", b, "team-values", 5))  # position clamped to the end
    assert state.team.values == (a, b)


def test_locked_board_is_read_only_and_only_the_facilitator_opens_or_locks() -> None:
    state = revealed_session()
    card = team.candidates(state)[0][0]
    with pytest.raises(DomainError, match="already open"):
        check(state, team.open_board(state))
    as_ann = team.lock_board(state).model_copy(update={"participant_id": "p1"})
    with pytest.raises(DomainError, match="Only the facilitator"):
        check(state, as_ann)
    state = apply(state, team.lock_board(state))
    assert state.team.locked
    with pytest.raises(DomainError, match="locked"):
        check(state, team.move(state, "p1", card, "team-values"))
    with pytest.raises(DomainError, match="locked"):
        check(state, team.lock_board(state))


def test_opening_an_open_board_or_locking_a_locked_one_again_is_a_noop() -> None:
    state = revealed_session()
    assert is_noop(state, team.open_board(state)) and not is_noop(state, team.lock_board(state))
    state = apply(state, team.lock_board(state))
    assert is_noop(state, team.lock_board(state))
    assert not is_noop(state, team.open_board(state))  # refused: the board is locked
    assert not is_noop(state, team.lock_board(state).model_copy(update={"participant_id": "p1"}))


def test_moves_need_an_open_board_and_an_active_participant() -> None:
    state = joined(session_with(1), ("p3", "Cy"))
    state = finish_with_top3(state, "p1", 0)
    state = apply(state, reveal(state, "p1", "top3"))
    card = state.participants["p1"].top3[0]
    with pytest.raises(DomainError, match="not open"):
        check(state, team.move(state, "p1", card, "team-values"))
    with pytest.raises(DomainError, match="Open the team board"):
        check(state, team.lock_board(state))
    state = apply(state, team.open_board(state))
    with pytest.raises(DomainError, match="not part"):
        check(state, team.move(state, "nobody", card, "team-values"))


def test_reorder_edge_cases_are_refused() -> None:
    state = revealed_session()
    a, b = [c for c, _ in team.candidates(state)][:2]
    state = apply(state, team.move(state, "p1", a, "team-values"))
    state = apply(state, team.move(state, "p1", b, "team-values"))
    with pytest.raises(DomainError, match="already there"):
        check(state, team.move(state, "p1", a, "team-values", 0))
    with pytest.raises(DomainError, match="past the end"):
        check(state, team.move(state, "p1", b, "team-values", 2))
    with pytest.raises(DomainError, match="already a candidate"):
        check(state, team.move(state, "p1", team.candidates(state)[0][0], "candidates"))


def test_team_events_round_trip_the_wire_and_snapshots() -> None:
    state = revealed_session()
    event = team.move(state, "p1", team.candidates(state)[0][0], "team-values")
    wire = event.to_wire()
    assert wire["payload"]["fromPile"] == "candidates" and wire["payload"]["toPile"] == "team-values"
    assert parse_event(wire) == event
    state = apply(state, event)
    assert SessionState.from_dict(state.to_dict()) == state
    old = state.to_dict()
    del old["team"]  # a snapshot written before the team board existed
    assert SessionState.from_dict(old).team == type(state.team)()


def test_an_anonymous_session_names_team_movers_by_number_never_by_name() -> None:
    """Other participants see who moved a card; in an anonymous session that must not be the real name."""
    created = create_session("ANON42", "W", "values-mini", MINI, anonymous=True)
    state = joined(
        apply(SessionState.empty("ANON42"), created),
        ("p1", "Ann"),
        ("p2", "Bo"),
    )
    for pid, offset in (("p1", 0), ("p2", 3)):
        state = finish_with_top3(state, pid, offset)
        state = apply(state, reveal(state, pid, "top3"))
    state = apply(state, team.open_board(state))
    card = team.candidates(state)[0][0]
    bo_move = team.move(state, "p2", card, TeamPile.TEAM_VALUES)
    ann_stale = team.move(state, "p1", card, TeamPile.TEAM_VALUES)
    state = apply(state, bo_move)
    assert state.team.moves[card].participant_name == "Participant 2"
    assert "Bo" not in bo_move.to_json()
    with pytest.raises(DomainError, match="Participant 2 moved") as refused:
        check(state, ann_stale)
    assert "Bo" not in str(refused.value)
