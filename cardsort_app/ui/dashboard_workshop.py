"""The facilitator's controls on the dashboard (pacing, timer, end, exports, QR join) and the live results.

A mixin of DashboardState: its vars are filled by `_sync_workshop` on every push (only for the code this
tab verified). The controls are commands the browser resends until acknowledged (`_do_*`, run by
`DashboardState.send_commands`, ui/resend.py) only once this tab proved the facilitator key
(`_verified_code`, set only by a successful `load`; the key stays server-side in `_key`); each validates
its arguments and goes through the service, which checks the key again before anything is appended.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Coroutine
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
    read_only: bool = False  # an imported session: it can be viewed and replayed, not changed
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
        self.results, self.read_only = [], False
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

    # --- commands (ui/resend.py: resent by the browser until acknowledged, applied once per id) ----------
    async def _run(self, command: Coroutine[Any, Any, Any], done: str) -> str:
        """Run a service command; "" when done, else the reason (shown in the dashboard's message too)."""
        try:
            await command
        except ServiceError as exc:
            self.message = str(exc)
            return self.message
        self.message = done
        return ""

    def _workshop(self) -> Workshop:
        return Workshop(get_runtime().service)

    @rx.event
    def set_timer_minutes(self, value: str) -> None:
        if self._verified_code:
            self.timer_minutes = text_arg(value, "The minutes", 8)

    async def _do_open_step(self, command_id: str, step: Any) -> str:
        """Facilitator-paced: let everyone work in `step` (2 or 3)."""
        step = int_arg(step, "The step to open", 2, 3)
        opened = self._workshop().open_step(self._verified_code, self._key, step, event_id=command_id)
        return await self._run(opened, f"Step {step} is open for everyone.")

    async def _do_start_timer(self, command_id: str, minutes: Any) -> str:
        """A countdown of `minutes`: a preset (a number), or what was typed in `timer-minutes` (text, which
        Workshop checks is 1-120)."""
        if isinstance(minutes, str):
            self.timer_minutes = minutes = text_arg(minutes, "The minutes", 8)
        else:
            minutes = int_arg(minutes, "The timer", 1, MAX_TIMER_MINUTES)
        started = self._workshop().start_timer(self._verified_code, self._key, minutes, event_id=command_id)
        return await self._run(started, "Timer started.")

    async def _do_add_minute(self, command_id: str) -> str:
        added = self._workshop().add_minute(self._verified_code, self._key, event_id=command_id)
        return await self._run(added, "Added a minute.")

    async def _do_stop_timer(self, command_id: str) -> str:
        stopped = self._workshop().stop_timer(self._verified_code, self._key, event_id=command_id)
        return await self._run(stopped, "Timer stopped.")

    async def _do_end_session(self, command_id: str) -> str:
        """End the session for everyone (the dashboard asks to confirm first): boards become read-only."""
        ended = self._workshop().end_session(self._verified_code, self._key, event_id=command_id)
        return await self._run(ended, "The session has ended.")
