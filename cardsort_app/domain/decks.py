"""Card decks shipped as package data (``domain/decks/*.json``).

A deck file is ``{"title": str, "cards": [{"id": "kebab-id", "name": str, "meaning": str}, ...]}``; the
deck's name is the file name without ``.json``. Sessions store only card ids (in deck order) in their
SESSION_CREATED event, so the card texts here can be reworded without touching any log.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

__all__ = ["DEFAULT_DECK", "Card", "Deck", "UnknownDeck", "deck_names", "load_deck"]

DEFAULT_DECK = "values"

_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class UnknownDeck(ValueError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"Unknown deck {name!r}; known decks: {', '.join(known)}")
        self.name = name
        self.known = known


@dataclass(frozen=True, slots=True)
class Card:
    id: str
    name: str
    meaning: str


@dataclass(frozen=True, slots=True)
class Deck:
    name: str
    title: str
    cards: tuple[Card, ...]

    @property
    def card_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.cards)

    def card(self, card_id: str) -> Card:
        """The card with ``card_id``; KeyError when the deck has none."""
        for c in self.cards:
            if c.id == card_id:
                return c
        raise KeyError(card_id)

    def by_id(self) -> dict[str, Card]:
        return {c.id: c for c in self.cards}


def _deck_dir() -> Traversable:
    return resources.files("cardsort_app.domain") / "decks"


@cache
def deck_names() -> tuple[str, ...]:
    """Names of the shipped decks, sorted."""
    return tuple(
        sorted(f.name.removesuffix(".json") for f in _deck_dir().iterdir() if f.name.endswith(".json"))
    )


def load_deck(name: str = DEFAULT_DECK) -> Deck:
    """Load (once) and validate a shipped deck; UnknownDeck when there is no deck of that name."""
    return _load(name)


@cache
def _load(name: str) -> Deck:
    if name not in deck_names():
        raise UnknownDeck(name, deck_names())
    data = json.loads((_deck_dir() / f"{name}.json").read_text(encoding="utf-8"))
    cards = tuple(Card(id=c["id"], name=c["name"], meaning=c["meaning"]) for c in data["cards"])
    ids = [c.id for c in cards]
    bad = [i for i in ids if not _ID.match(i)]
    if bad or len(set(ids)) != len(ids) or not cards:
        raise ValueError(f"deck {name!r} is malformed (empty, duplicate or non-kebab ids: {bad})")
    return Deck(name=name, title=data["title"], cards=cards)
