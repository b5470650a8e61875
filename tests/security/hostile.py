"""Hostile values and the argument cases of every websocket event handler of the app."""

from __future__ import annotations

from typing import Any

#: Values a hostile client puts in any argument: wrong types, extremes, huge and spoofing strings.
HOSTILE_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    -(2**70),
    1e308,
    "",
    " ",
    "x" * 100_000,
    "\u202e\u200b\u0000\u2066",
    "<img src=x onerror=alert(1)>",
    "../../etc/passwd",
    {"a": 1},
    {"cardId": "x" * 10_000, "fromPile": [], "toPile": {}},
    [1, "two", None],
    [],
]

#: Whole payloads that are not an object of arguments.
HOSTILE_PAYLOADS: list[Any] = [None, "payload", 5, [1, 2], True, {"": 1}, {"zz_unknown_argument": 1}]


def cases(valid: dict[str, Any]) -> list[dict[str, Any]]:
    """Argument objects for a handler whose well-formed call is `valid`: none, one unknown name, the valid
    call, and every hostile value in each argument in turn (the others kept valid)."""
    out: list[dict[str, Any]] = [{}, {"zz_unknown_argument": 1}, dict(valid)]
    for name in valid:
        for value in HOSTILE_VALUES:
            out.append({**valid, name: value})
    out.append({**valid, "zz_unknown_argument": 1})
    return out
