"""Custom decks: a facilitator's CSV (``id,label,description``) checked whole, and the deck a session uses.

A CSV is accepted whole or not at all: every bad row is reported (row number and what is wrong), and
nothing is created until every row is right. The accepted cards travel in the session's SESSION_CREATED
event (``payload.cards``), so the session never depends on a file again.
"""

from __future__ import annotations

import csv
import io
import json
import re
from functools import lru_cache

from .decks import Card, Deck, UnknownDeck, load_deck
from .events import MAX_DECK_BYTES
from .state import CardText, SessionState

__all__ = [
    "CUSTOM_DECK",
    "MAX_CARDS",
    "MIN_CARDS",
    "DeckProblem",
    "parse_deck_csv",
    "session_deck",
]

#: The deck name a session with a custom deck records.
CUSTOM_DECK = "custom"
MIN_CARDS = 8  # a top 8 needs at least 8 cards
MAX_CARDS = 200
MAX_ID, MAX_LABEL, MAX_DESCRIPTION = 40, 60, 240

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_HEADER = ["id", "label", "description"]


class DeckProblem(ValueError):
    """The CSV is not a usable deck; ``problems`` has one readable line per bad row (or for the file)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _row_problems(number: int, row: list[str], seen: dict[str, int]) -> tuple[list[str], dict | None]:
    where = f"Row {number}"
    if len(row) not in (2, 3):
        return [f"{where}: expected 3 columns (id,label,description), found {len(row)}"], None
    card_id, label = row[0].strip(), row[1].strip()
    description = row[2].strip() if len(row) == 3 else ""
    problems = []
    if not card_id:
        problems.append(f"{where}: the id is empty")
    elif len(card_id) > MAX_ID:
        problems.append(f"{where}: the id {card_id[:MAX_ID]!r}… is longer than {MAX_ID} characters")
    elif not _SAFE_ID.match(card_id):
        problems.append(
            f"{where}: the id {card_id!r} may hold only letters, digits, '-' and '_', starting with a letter "
            "or digit"
        )
    elif card_id in seen:
        problems.append(f"{where}: the id {card_id!r} is already used in row {seen[card_id]}")
    if not label:
        problems.append(f"{where}: the label is empty")
    elif len(label) > MAX_LABEL:
        problems.append(f"{where}: the label is longer than {MAX_LABEL} characters")
    if len(description) > MAX_DESCRIPTION:
        problems.append(f"{where}: the description is longer than {MAX_DESCRIPTION} characters")
    if any(ch in text for text in (label, description) for ch in "\x00\r"):
        problems.append(f"{where}: control characters are not allowed")
    if problems:
        return problems, None
    seen[card_id] = number
    return [], {"id": card_id, "label": label, "description": description}


def parse_deck_csv(text: str | bytes) -> list[dict[str, str]]:
    """The cards of a CSV deck as ``[{id, label, description}]``, or DeckProblem listing every bad row.

    The header row ``id,label,description`` is required (``description`` may be left out); rows are
    numbered as a spreadsheet shows them (the header is row 1). Blank lines are skipped.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DeckProblem(["The file is not UTF-8 text; save it as CSV (UTF-8)"]) from exc
    text = text.removeprefix("\ufeff")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise DeckProblem([f"The file is not valid CSV: {exc}"]) from exc
    numbered = [(n, row) for n, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if not numbered:
        raise DeckProblem(["The file is empty: it needs a header row id,label,description and 8-200 cards"])
    header_number, header = numbered[0]
    if [h.strip().lower() for h in header] not in (_HEADER, _HEADER[:2]):
        raise DeckProblem([f"Row {header_number}: the header must be id,label,description"])
    problems: list[str] = []
    cards: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for number, row in numbered[1:]:
        row_problems, card = _row_problems(number, row, seen)
        problems += row_problems
        if card is not None:
            cards.append(card)
    count = len(numbered) - 1
    if not MIN_CARDS <= count <= MAX_CARDS:
        problems.append(f"A deck needs {MIN_CARDS} to {MAX_CARDS} cards; this file has {count}")
    if not problems and len(json.dumps(cards, ensure_ascii=False).encode()) > MAX_DECK_BYTES:
        problems.append(f"The deck's text is over {MAX_DECK_BYTES // 1024} KiB: shorten the descriptions")
    if problems:
        raise DeckProblem(problems)
    return cards


def session_deck(state: SessionState) -> Deck | None:
    """The deck a session uses: its own cards (custom deck) or the shipped deck it names."""
    if state.custom_cards:
        return _custom_deck(state.deck, state.custom_cards)
    try:
        return load_deck(state.deck) if state.deck else None
    except UnknownDeck:
        return None


@lru_cache(maxsize=256)
def _custom_deck(name: str, cards: tuple[CardText, ...]) -> Deck:
    # Every tab of a session asks on every change: build the deck once per session.
    return Deck(
        name=name,
        title="Custom deck",
        cards=tuple(Card(id=c.id, name=c.label, meaning=c.description) for c in cards),
    )
