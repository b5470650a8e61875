"""The facilitator's commands (pacing, timer, end) and a participant's erasure, on top of SessionService.

Every command is authorised first (the facilitator key, or the participant's proven identity), then
decided against the session's current projection and appended like any other event. The timer's end
instant is taken from the server's clock here, when the command is decided, so it is a fact in the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cardsort_app.domain import facilitation
from cardsort_app.domain.events import Event
from cardsort_app.domain.state import SessionState
from cardsort_app.service.errors import Rejected
from cardsort_app.service.sessions import Identity, SessionService

#: The longest countdown a facilitator can set, in minutes.
MAX_TIMER_MINUTES = 120


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _whole_number(value: object, what: str, low: int, high: int) -> int:
    """A UI or API argument as an int in [low, high], or Rejected with a readable message."""
    if isinstance(value, bool):
        raise Rejected(f"{what} must be a whole number from {low} to {high}")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise Rejected(f"{what} must be a whole number from {low} to {high}")
        value = int(value)
    if not isinstance(value, int) or not low <= value <= high:
        raise Rejected(f"{what} must be a whole number from {low} to {high}")
    return value


class Workshop:
    def __init__(self, service: SessionService, clock: Callable[[], int] = now_ms) -> None:
        self.service = service
        self.clock = clock

    # `event_id`: the id the browser chose for the command; it sends it again until acknowledged, and the
    # log stores an id once, so a repeat changes nothing (ui/resend.py).
    async def open_step(
        self, code: str, key: str | None, step: object, *, event_id: str | None = None
    ) -> Event | None:
        step = _whole_number(step, "The step to open", 2, facilitation.LAST_OPENABLE_STEP)
        return await self.service.facilitate(
            code, key, lambda s: facilitation.open_step(s, step), event_id=event_id
        )

    async def start_timer(
        self, code: str, key: str | None, minutes: object, *, event_id: str | None = None
    ) -> Event | None:
        minutes = _whole_number(minutes, "The timer", 1, MAX_TIMER_MINUTES)
        return await self.service.facilitate(
            code, key, lambda s: facilitation.start_timer(s, minutes * 60, self.clock()), event_id=event_id
        )

    async def add_minute(self, code: str, key: str | None, *, event_id: str | None = None) -> Event | None:
        return await self.service.facilitate(
            code, key, lambda s: facilitation.extend_timer(s, 60, self.clock()), event_id=event_id
        )

    async def stop_timer(self, code: str, key: str | None, *, event_id: str | None = None) -> Event | None:
        return await self.service.facilitate(code, key, facilitation.stop_timer, event_id=event_id)

    async def end_session(self, code: str, key: str | None, *, event_id: str | None = None) -> Event | None:
        return await self.service.facilitate(code, key, facilitation.end_session, event_id=event_id)

    async def erase(self, code: str, identity: Identity) -> Event | None:
        """The participant leaves and their name is erased from the session's projection."""
        return await self.service.command(code, identity, facilitation.erase)

    async def end_idle(self, code: str) -> Event | None:
        """End a session nobody used for the idle time (the sweeper decided that; no key involved)."""

        def decide(state: SessionState) -> Event | None:
            return None if state.ended else facilitation.end_session(state, "idle")

        return await self.service.system_command(code, decide)
