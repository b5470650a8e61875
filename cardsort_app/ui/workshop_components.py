"""Reflex wrappers of cardsort_workshop.jsx: the browser-side countdown and focus-mode key shortcuts."""

from __future__ import annotations

import reflex as rx

_LIBRARY = "$/public" + rx.asset("cardsort_workshop.jsx", shared=True)


class Countdown(rx.Component):
    """Ticks down to ``ends_at`` (epoch ms) in the browser; shows ``done_text`` at zero."""

    library = _LIBRARY
    tag = "Countdown"
    ends_at: rx.Var[int]
    done_text: rx.Var[str]


class KeyShortcuts(rx.Component):
    """Reports the listed keys pressed anywhere on the page (not while typing in a field)."""

    library = _LIBRARY
    tag = "KeyShortcuts"
    keys: rx.Var[list[str]]
    on_key: rx.EventHandler[lambda key: [key]]


countdown = Countdown.create
key_shortcuts = KeyShortcuts.create


class PrintButton(rx.Component):
    """A plain button that opens the print dialog."""

    library = _LIBRARY
    tag = "PrintButton"


print_button = PrintButton.create
