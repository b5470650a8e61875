"""The replay's rows: each participant's piles under a one-line headline (how far they got)."""

from __future__ import annotations

from cardsort_app.domain.decks import load_deck
from cardsort_app.domain.events import Pile
from cardsort_app.domain.rules import move_card
from cardsort_app.ui.replay_state import replay_rows
from tests.unit.helpers import MINI, apply, drive, session_with

LABELS = {c.id: c.name for c in load_deck("values-mini").cards}


def _names(cards: tuple[str, ...]) -> str:
    return ", ".join(LABELS[c] for c in cards)


def test_the_headline_is_the_top_3_else_the_top_8_else_how_many_are_sorted() -> None:
    state = drive(session_with(step=4), "p2", 3)  # Ann done (top 3 chosen), Bo in step 3 (top 8 only)
    state = apply(state, move_card(state, "p2", state.participants["p2"].pile(Pile.TOP8)[0], Pile.TOP3))
    ann, bo = state.participants["p1"], state.participants["p2"]
    rows = {r["name"]: r for r in replay_rows(state, online={"p1"})}
    assert rows["Ann"]["headline"] == f"Top 3: {_names(ann.pile(Pile.TOP3))}"
    assert rows["Bo"]["headline"] == f"Top 3: {_names(bo.pile(Pile.TOP3))}"  # one card in: still the top 3

    fresh = session_with(step=2)  # Ann's top 8 still empty, Bo has sorted nothing
    rows = {r["name"]: r for r in replay_rows(fresh, online=set())}
    assert rows["Ann"]["headline"] == f"{len(MINI)} of {len(MINI)} cards sorted"
    assert rows["Bo"]["headline"] == f"0 of {len(MINI)} cards sorted"
    fresh = apply(
        fresh, move_card(fresh, "p1", fresh.participants["p1"].pile(Pile.VERY_IMPORTANT)[0], Pile.TOP8)
    )
    top8 = fresh.participants["p1"].pile(Pile.TOP8)
    assert {r["name"]: r["headline"] for r in replay_rows(fresh, set())}["Ann"] == f"Top 8: {_names(top8)}"
    # The piles under it name every card of every non-empty pile, by label.
    ann_piles = {
        p["pile"]: p["cards"] for p in {r["name"]: r for r in replay_rows(fresh, set())}["Ann"]["piles"]
    }
    assert ann_piles["Top 8"] == _names(top8) and "Unsorted" not in ann_piles
