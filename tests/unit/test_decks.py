"""Shipped decks: present, well formed, cached, and a clear error for unknown names."""

from __future__ import annotations

import re

import pytest

from cardsort_app.domain.decks import DEFAULT_DECK, Card, Deck, UnknownDeck, deck_names, load_deck


def test_deck_names() -> None:
    assert deck_names() == ("values", "values-mini")
    assert DEFAULT_DECK == "values"


@pytest.mark.parametrize("name", ["values", "values-mini"])
def test_decks_are_well_formed(name: str) -> None:
    deck = load_deck(name)
    assert isinstance(deck, Deck) and deck.name == name and deck.title
    assert all(isinstance(c, Card) for c in deck.cards)
    ids = deck.card_ids
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)
    assert all(c.name.strip() and c.meaning.strip() for c in deck.cards)
    assert len({c.name.casefold() for c in deck.cards}) == len(ids)


def test_default_deck_is_big_enough() -> None:
    assert load_deck() is load_deck("values")
    assert len(load_deck().cards) >= 44


def test_mini_deck_is_a_12_card_subset() -> None:
    mini, full = load_deck("values-mini"), load_deck("values")
    assert len(mini.cards) == 12
    assert set(mini.cards) <= set(full.cards)


def test_deck_lookup() -> None:
    deck = load_deck("values-mini")
    card = deck.cards[3]
    assert deck.card(card.id) == card
    assert deck.by_id()[card.id] == card
    with pytest.raises(KeyError):
        deck.card("telepathy")


def test_unknown_deck_lists_known_names() -> None:
    with pytest.raises(UnknownDeck, match=r"Unknown deck 'tarot'; known decks: values, values-mini") as info:
        load_deck("tarot")
    assert isinstance(info.value, ValueError)
    assert info.value.known == ("values", "values-mini")
