"""The event bus: fan-out of sequenced events between backend processes. Never the source of truth."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from cardsort_app.domain.events import Event

Handler = Callable[[Event], Awaitable[None]]


class Subscription(Protocol):
    async def close(self) -> None: ...


class EventBus(Protocol):
    """Publishes sequenced events on a session's channel and delivers them to subscribers.

    Delivery may duplicate, drop or reorder; subscribers apply by `seq` and catch up from the log.
    """

    async def publish(self, event: Event) -> None: ...

    async def subscribe(self, session_code: str, handler: Handler) -> Subscription: ...

    async def debug(self, session_code: str, kind: str, detail: dict) -> None:
        """Best-effort diagnostics (rejections, conflicts, catch-ups, relay retries)."""
        ...

    async def healthy(self) -> bool: ...

    async def close(self) -> None: ...
