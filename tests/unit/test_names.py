"""Names and titles (domain/names.py): NFKC, nothing invisible, never empty, unique under case folding.
Property tests feed hostile Unicode: controls, format characters, bidi overrides, combining floods."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardsort_app.domain import names, rules
from cardsort_app.domain.events import InvalidEvent
from cardsort_app.domain.names import InvalidText, clean, clean_name, clean_title, key
from cardsort_app.domain.rules import DomainError
from tests.unit.helpers import apply, created

INVISIBLE = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u202e",
    "\u202d",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\u061c",
]

hostile = st.text(
    alphabet=st.one_of(
        st.sampled_from(
            INVISIBLE + ["\u0301", "\u0336", "\u3000", "\u2028", "\t", "\n", " ", "ﬁ", "Ａ", "ǅ"]
        ),
        st.characters(codec="utf-8"),
    ),
    max_size=60,
)


def _forbidden(ch: str) -> bool:
    return unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"} or (
        unicodedata.category(ch) == "Zs" and ch != " "
    )


@given(hostile)
@settings(max_examples=400, deadline=None)
def test_a_clean_name_is_normal_visible_and_stable(raw: str) -> None:
    try:
        name = clean_name(raw)
    except InvalidText as exc:
        assert "visible" in str(exc) or "longer" in str(exc)
        return
    assert name == unicodedata.normalize("NFKC", name)
    assert not any(_forbidden(ch) for ch in name)
    assert name == name.strip() and "  " not in name
    assert 1 <= len(name) <= names.NAME_MAX
    assert any(unicodedata.category(ch)[0] in "LNSP" for ch in name)
    assert clean_name(name) == name  # idempotent: a stored name passes again unchanged


@given(hostile, st.sampled_from(INVISIBLE))
@settings(max_examples=300, deadline=None)
def test_invisible_characters_never_make_a_different_name(raw: str, sneaky: str) -> None:
    try:
        base = clean_name(raw)
    except InvalidText:
        return
    for spoof in (base + sneaky, sneaky + base, base[:1] + sneaky + base[1:]):
        try:
            assert key(clean_name(spoof)) == key(base)
        except InvalidText:  # only when the spoof got too long
            assert len(spoof) > names.NAME_MAX


@pytest.mark.parametrize(
    "raw", ["", "   ", "\u200b", "\u200b\u200c\u200d", "\u202e", "\x00\x01", "\u0301\u0301", "\u3000\u2028"]
)
def test_nothing_visible_is_refused(raw: str) -> None:
    with pytest.raises(InvalidText, match="visible"):
        clean_name(raw)


def test_examples() -> None:
    assert clean_name("  Ａlice  ") == "Alice"  # full-width letters are the plain ones
    assert clean_name("Al\u200bice") == "Alice"
    assert clean_name("evil\u202eexe.txt") == "evilexe.txt"  # no right-to-left override
    assert clean_name("a\tb\n\u3000c") == "a b c"
    assert clean_name("x\u0301\u0301\u0301\u0301") == "x\u0301\u0301"  # at most two marks survive
    assert key("ALICE") == key("alice") == key("Ａlice") == key("Alice\u200b")
    assert clean_name("ﬁne") == "fine"
    assert key("Straße") == key("STRASSE")
    with pytest.raises(InvalidText, match="longer than 40"):
        clean_name("x" * 41)
    assert clean_title("  My\u200b workshop ") == "My workshop"
    with pytest.raises(InvalidText, match="longer than 120"):
        clean_title("t" * 121)
    with pytest.raises(InvalidText):
        clean(5)  # type: ignore[arg-type]


def test_join_cleans_and_keeps_names_unique() -> None:
    state = created()
    event = rules.join(state, "p_1", "  Ａlice\u200b ")
    assert event.payload.participant.name == "Alice"
    state = apply(state, event)
    for spoof in ("alice", "ALICE\u200d", "Ａｌｉｃｅ", "\u202dAlice"):
        with pytest.raises(DomainError, match="already taken"):
            rules.check(state, rules.join(state, "p_2", spoof))
    with pytest.raises(InvalidEvent, match="visible"):
        rules.join(state, "p_3", "\u200b\u200b")


def test_a_crafted_join_event_with_hidden_characters_is_refused() -> None:
    """An event built around the cleaning builder (a raw client) is still refused by the rules."""
    state = created()
    event = rules.join(state, "p_1", "Bob")
    raw = event.payload.participant.model_copy(update={"name": "Bob\u200b"})
    crafted = event.model_copy(update={"payload": event.payload.model_copy(update={"participant": raw})})
    with pytest.raises(DomainError, match="invisible"):
        rules.check(state, crafted)
