"""Reflex side of the offline-safe change queue (cardsort_offline.jsx).

The board's own piles and step are rendered from `view(...)`: the confirmed state the server pushes with
the participant's queued changes folded on top, computed in the browser, so a change shows at once even
with no connection. The controls call the queue's functions (`call(...)`) directly in the browser; the
queue sends its changes to `BoardState.send_changes` and drops each one when the server acknowledges it.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.utils.imports import ImportVar
from reflex.vars import Var, VarData

from cardsort_app.ui import join  # noqa: F401 - registers cardsort_join.jsx, which cardsort_offline.jsx imports
from cardsort_app.ui.outbox import js_call, js_function

_LIBRARY = "$/public" + rx.asset("cardsort_offline.jsx", shared=True)
_VIEW = "boardView"
_VIEW_DATA = VarData(
    imports={_LIBRARY: [ImportVar(tag="useBoardView")], "react": [ImportVar(tag="useSyncExternalStore")]},
    hooks={f"const {_VIEW} = useBoardView()": None},
)


class OfflineQueue(rx.Component):
    """Feeds the queue the confirmed state and acknowledgements; shows `offline-banner` while offline."""

    library = _LIBRARY
    tag = "OfflineQueue"
    code: rx.Var[str]
    ready: rx.Var[bool]
    piles: rx.Var[dict[str, list[dict[str, str]]]]
    step: rx.Var[int]
    deck_size: rx.Var[int]
    rules: rx.Var[dict[str, Any]]
    acks: rx.Var[dict[str, Any]]
    waiting: rx.Var[bool]  # facilitator-paced and ahead: the next step is not open yet
    left: rx.Var[bool]  # the participant left (a leave this tab queued is stored): off to the landing page
    socket_errors: rx.Var[int]
    on_send: rx.EventHandler[lambda batch: [batch]]


offline_queue = OfflineQueue.create


def view(path: str, type_: Any) -> Var:
    """A field of the participant's optimistic board (see `computeView` in cardsort_offline.jsx)."""
    return Var(_js_expr=f"{_VIEW}.{path}", _var_type=type_, _var_data=_VIEW_DATA).guess_type()


def call(function: str, *args: Any) -> Var:
    """A browser-side handler: `() => function(args...)` from cardsort_offline.jsx (no server round trip)."""
    return js_call(_LIBRARY, function, *args)


def handler(function: str) -> Var:
    """A browser-side handler that receives the trigger's argument (e.g. the drop payload)."""
    return js_function(_LIBRARY, function)
