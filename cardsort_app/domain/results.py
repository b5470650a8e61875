"""The group's results, computed from the projection: per-card counts and each participant's selection.

Counts are over the active participants' current piles (what ``GET /api/sessions/{code}`` shows):

* ``top3``: the card is in the participant's ``top3`` pile;
* ``top8``: it is in their top 8 (``top8`` + ``top3``, since step 3 moves cards on from the top 8);
* ``very_important``: it is in their ``very-important`` pile.

Ranked by top-3 count, then top-8 count, then very-important count, then deck order.
"""

from __future__ import annotations

from dataclasses import dataclass

from .decks import Deck
from .events import Pile
from .state import PILES, SessionState

__all__ = ["CSV_HEADER", "CardResult", "Selection", "card_results", "csv_rows", "selections"]

CSV_HEADER = ("participant", "card_id", "card_label", "pile", "rank")
_RANKED_PILES = (Pile.TOP3.value, Pile.TOP8.value)


@dataclass(frozen=True, slots=True)
class CardResult:
    card_id: str
    label: str
    top3: int
    top8: int
    very_important: int


@dataclass(frozen=True, slots=True)
class Selection:
    participant_id: str
    name: str
    step: int
    top3: tuple[str, ...]
    top8: tuple[str, ...]


def _label(deck: Deck | None, card_id: str) -> str:
    if deck is not None:
        try:
            return deck.card(card_id).name
        except KeyError:
            pass
    return card_id


def card_results(state: SessionState, deck: Deck | None) -> list[CardResult]:
    """One result per card of the session, ranked (see the module docstring)."""
    top3 = dict.fromkeys(state.card_ids, 0)
    top8 = dict.fromkeys(state.card_ids, 0)
    very = dict.fromkeys(state.card_ids, 0)
    for person in state.active_participants:
        for card in person.top3:
            top3[card] = top3.get(card, 0) + 1
        for card in person.top8:
            top8[card] = top8.get(card, 0) + 1
        for card in person.pile(Pile.VERY_IMPORTANT):
            very[card] = very.get(card, 0) + 1
    order = {c: i for i, c in enumerate(state.card_ids)}
    ranked = sorted(state.card_ids, key=lambda c: (-top3[c], -top8[c], -very[c], order[c]))
    return [CardResult(c, _label(deck, c), top3[c], top8[c], very[c]) for c in ranked]


def selections(state: SessionState, names: dict[str, str] | None = None) -> list[Selection]:
    """Each active participant's current top 3 and top 8 (``names`` overrides the shown names)."""
    names = names or {}
    return [
        Selection(p.id, names.get(p.id, p.name), p.step, p.top3, p.top8) for p in state.active_participants
    ]


def csv_rows(state: SessionState, deck: Deck | None) -> list[tuple[str, str, str, str, str]]:
    """One row per active participant × card, in the order of ``GET /api/sessions/{code}``: participants
    as listed there, piles in their display order, cards in pile order. ``rank`` is the 1-based position
    inside ``top3`` or ``top8``, empty elsewhere."""
    rows = []
    for person in state.active_participants:
        for pile in PILES:
            for position, card in enumerate(person.pile(pile), start=1):
                rank = str(position) if pile in _RANKED_PILES else ""
                rows.append((person.name, card, _label(deck, card), pile, rank))
    return rows
