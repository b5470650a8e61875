"""The facilitator's controls on the dashboard (pacing, timer, end, exports, QR join) and the live results.

A mixin of DashboardState: its vars are filled by `_sync_workshop` on every push (only for the code this
tab verified), and every public handler here is an endpoint any websocket can call. Each one acts only
when this tab proved the facilitator key (`_verified_code`, set only by a successful `load`; the key stays
server-side in `_key`), validates its arguments, and goes through the service, which checks the key again
before anything is appended.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

import reflex as rx
import segno

from cardsort_app.domain.state import SessionState
from cardsort_app.service import exports
from cardsort_app.service.errors import ServiceError
from cardsort_app.service.runtime import get_runtime
from cardsort_app.service.workshop import MAX_TIMER_MINUTES, Workshop
from cardsort_app.ui.guard import int_arg, text_arg
from cardsort_app.ui.workshop_view import result_rows, session_fields

_NOT_READY = "Open the dashboard with the facilitator key first"
#: The results of the newest sessions at their current version, shared by every dashboard of a session
#: (they read it, never change it): computed once per change, not once per dashboard.
_RESULTS: OrderedDict[str, tuple[int, list[dict[str, Any]]]] = OrderedDict()
_RESULTS_SESSIONS = 64


def _results(state: SessionState) -> list[dict[str, Any]]:
    hit = _RESULTS.get(state.code)
    if hit is None or hit[0] != state.version:
        hit = _RESULTS[state.code] = (state.version, result_rows(state))
        while len(_RESULTS) > _RESULTS_SESSIONS:
            _RESULTS.popitem(last=False)
    return hit[1]


def qr_svg(url: str) -> str:
    """The join link as an SVG QR code (segno), sized by its viewBox so CSS can scale it."""
    qr = segno.make(url, error="m")
    svg = qr.svg_inline(scale=4, border=2, dark="#1c2024", light="#ffffff", omitsize=True)
    # The hook and an accessible name go on the <svg> itself (segno escapes nothing of ours into it).
    return svg.replace(
        "<svg ", '<svg data-testid="join-qr" role="img" aria-label="QR code of the join link" ', 1
    )


class WorkshopControls(rx.State, mixin=True):
    pacing: str = "self"
    steps_open: int = 3
    timer_ends_at: int = 0
    ended: bool = False
    anonymous: bool = False
    results: list[dict[str, Any]] = []
    export_csv_url: str = ""
    export_json_url: str = ""
    join_url: str = ""
    join_qr: str = ""
    timer_minutes: str = "5"
    _key_hash: str = ""

    @rx.var
    def results_chart(self) -> list[dict[str, Any]]:
        """The twelve cards ranked highest, for the chart."""
        return [r for r in self.results[:12] if r["top8"] or r["top3"] or r["very_important"]]

    def _forget_workshop(self) -> None:
        """No verified session in this tab (see DashboardState._forget): nothing of it stays visible."""
        self.pacing, self.steps_open, self.timer_ends_at, self.ended, self.anonymous = (
            "self",
            3,
            0,
            False,
            False,
        )
        self.results = []
        self.export_csv_url = self.export_json_url = self.join_url = self.join_qr = ""
        self._key_hash = ""

    # --- rendering (called from DashboardState._sync on every change) ---------------------------------
    async def _sync_workshop(self, state: SessionState) -> None:
        if not self._verified_code or state.code != self._verified_code:
            return
        for name, value in session_fields(state).items():
            if getattr(self, name) != value:
                setattr(self, name, value)
        if (results := _results(state)) != self.results:  # assigned only when changed: a smaller push
            self.results = results
        if not self._key_hash:
            record = await get_runtime().queries.session_record(state.code)
            self._key_hash = record.facilitator_key_hash if record else ""
        if self._key_hash:  # links renewed on every change, so an open dashboard's links keep working
            token = exports.export_token(state.code, self._key_hash)
            base = f"/api/sessions/{state.code}"
            self.export_csv_url = f"{base}/export.csv?token={token}"
            self.export_json_url = f"{base}/export.json?token={token}"
        if not self.join_url:
            self.join_url = f"{self._origin()}/join/{state.code}"
            self.join_qr = qr_svg(self.join_url)

    def _origin(self) -> str:
        parts = urlsplit(str(self.router.url or ""))
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
        return str(self.router.headers.origin or "")

    # --- handlers ------------------------------------------------------------------------------------------
    def _ready(self) -> bool:
        if not self._verified_code or not self._key:
            self.message = _NOT_READY
            return False
        return True

    async def _run(self, command, done: str) -> None:
        try:
            await command
        except ServiceError as exc:
            self.message = str(exc)
            return
        self.message = done

    @rx.event
    async def open_step(self, step: int):
        """Facilitator-paced: let everyone work in `step` (2 or 3)."""
        if not self._ready():
            return
        step = int_arg(step, "The step to open", 2, 3)
        workshop = Workshop(get_runtime().service)
        await self._run(workshop.open_step(self._verified_code, self._key, step), "Step opened for everyone.")

    @rx.event
    def set_timer_minutes(self, value: str) -> None:
        if self._ready():
            self.timer_minutes = text_arg(value, "The minutes", 8)

    @rx.event
    async def start_timer(self, minutes: int | str | None = None):
        """Start a countdown of `minutes` (a preset), or of the minutes typed in `timer-minutes`."""
        if not self._ready():
            return
        # No preset: the minutes typed in `timer-minutes` (text; Workshop checks it is 1-120).
        value = self.timer_minutes if minutes is None else int_arg(minutes, "The timer", 1, MAX_TIMER_MINUTES)
        workshop = Workshop(get_runtime().service)
        await self._run(workshop.start_timer(self._verified_code, self._key, value), "Timer started.")

    @rx.event
    async def add_minute(self):
        if not self._ready():
            return
        workshop = Workshop(get_runtime().service)
        await self._run(workshop.add_minute(self._verified_code, self._key), "Added a minute.")

    @rx.event
    async def stop_timer(self):
        if not self._ready():
            return
        workshop = Workshop(get_runtime().service)
        await self._run(workshop.stop_timer(self._verified_code, self._key), "Timer stopped.")

    @rx.event
    async def end_session(self):
        """End the session for everyone (the dashboard asks to confirm first): boards become read-only."""
        if not self._ready():
            return
        workshop = Workshop(get_runtime().service)
        await self._run(workshop.end_session(self._verified_code, self._key), "The session has ended.")
