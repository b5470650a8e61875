"""The shared rows as Reflex vars: a tab's snapshot merged in the browser with the session's live frames.

`live_rows(BoardState.live)` and `live_reveals(...)` are list vars for `rx.foreach`, so the participants
panel and the reveals keep their Reflex components (and DOM hooks); only their data comes from the
browser-side store of cardsort_live.jsx instead of a per-tab state var.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.utils.imports import ImportVar
from reflex.vars import VarData

_LIBRARY = "$/public" + rx.asset("cardsort_live.jsx", shared=True)


def _live(snapshot: rx.Var, field: str) -> rx.Var:
    name = "cardsortLive"
    hook = f"const {name} = useCardsortLive({snapshot!s});"
    data = VarData.merge(
        snapshot._get_all_var_data(),
        VarData(imports={_LIBRARY: [ImportVar(tag="useCardsortLive")]}, hooks={hook: None}),
    )
    return rx.Var(_js_expr=f"{name}.{field}", _var_data=data).to(list[dict[str, Any]])


def live_rows(snapshot: rx.Var) -> rx.Var:
    """The participants rows (`id`, `name`, `step`, `online`, in join order)."""
    return _live(snapshot, "rows")


def live_reveals(snapshot: rx.Var) -> rx.Var:
    """The reveals rows (`participant_id`, `participant_name`, `reveal_type`, `label`, `cards`)."""
    return _live(snapshot, "reveals")


def live_list(snapshot: rx.Var, name: str) -> rx.Var:
    """Another keyed list of the feed (e.g. the facilitator's `selections`), rows keyed by `id`."""
    return _live(snapshot, name)


def count_where(rows: rx.Var, field: str, value: str | int) -> rx.Var:
    """How many of the browser-side rows have `field` == `value` (computed in the page, not pushed)."""
    js = f"({rows!s}).filter((r) => r[{field!r}] === {value!r}).length"
    return rx.Var(_js_expr=js, _var_data=rows._get_all_var_data()).to(int)


def live_head(snapshot: rx.Var, version: rx.Var) -> rx.Var:
    """The newest event's seq a dashboard knows: its live log's first row (newest first), or `version`
    (as of the tab's last Reflex push) when that is newer."""
    log = live_list(snapshot, "log")
    js = f"Math.max({version!s}, ((({log!s})[0]) || {{}}).id || 0)"  # a log row's id is its event's seq
    data = VarData.merge(log._get_all_var_data(), version._get_all_var_data())
    return rx.Var(_js_expr=js, _var_data=data).to(int)
