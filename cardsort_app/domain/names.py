"""Display names and titles people can trust: what is shown is what was meant, and two names that look
the same are the same name.

`clean` normalises to Unicode NFKC (full-width, ligatures and other compatibility forms become their plain
letters), drops control and format characters (zero-width spaces and joiners, bidi overrides and
isolates, soft hyphens, NUL ...), private-use and unassigned code points, keeps at most two combining
marks on a letter (no "Zalgo" towers), turns every kind of space into one plain space and trims. What is
left must hold at least one letter, digit or symbol. `key` is what uniqueness compares: the clean name,
case-folded (and normalised again, since folding can un-normalise).
"""

from __future__ import annotations

import unicodedata

NAME_MAX = 40
TITLE_MAX = 120
#: Combining marks kept after one base character.
MAX_MARKS = 2

_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})  # control, format, surrogate, private use, unassigned
_SPACES = frozenset({"Zs", "Zl", "Zp"})
_MARKS = frozenset({"Mn", "Me"})
_VISIBLE = ("L", "N", "S", "P")


class InvalidText(ValueError):
    """A name or title that is empty once cleaned, or too long; the message says which."""


def clean(raw: str, *, max_length: int = NAME_MAX, what: str = "name") -> str:
    if not isinstance(raw, str):
        raise InvalidText(f"The {what} must be text")
    out: list[str] = []
    marks = 0
    for ch in unicodedata.normalize("NFKC", raw):
        category = unicodedata.category(ch)
        if ch in "\t\n\r" or category in _SPACES:
            if out and out[-1] != " ":
                out.append(" ")
            marks = 0
        elif category in _DROPPED:
            continue
        elif category in _MARKS:
            if out and out[-1] != " " and marks < MAX_MARKS:
                out.append(ch)
                marks += 1
        else:
            out.append(ch)
            marks = 0
    text = unicodedata.normalize("NFKC", "".join(out)).strip()
    if not any(unicodedata.category(ch).startswith(_VISIBLE) for ch in text):
        raise InvalidText(f"Enter a {what} with at least one visible letter or digit")
    if len(text) > max_length:
        raise InvalidText(f"The {what} is longer than {max_length} characters")
    return text


def key(name: str) -> str:
    """What two names are compared by: 'Ａlice', 'alice' and 'Alice\\u200b' are all the same."""
    try:
        text = clean(name, max_length=max(NAME_MAX, TITLE_MAX, len(name)))
    except InvalidText:
        text = name.strip()
    return unicodedata.normalize("NFKC", text.casefold())


def clean_name(raw: str) -> str:
    return clean(raw, max_length=NAME_MAX, what="display name")


def clean_title(raw: str) -> str:
    return clean(raw, max_length=TITLE_MAX, what="title")
