"""The event bus: fan-out of sequenced events between backend processes. Never the source of truth."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, Protocol

from cardsort_app.domain.events import Event

Handler = Callable[[Event], Awaitable[None]]

#: A bus's own view of its health: ("ok", None), ("degraded", why) -- usable, but some events only
#: reach other workers through the log -- or ("error", why) -- not usable now.
BusHealth = tuple[Literal["ok", "degraded", "error"], str | None]


class PublishError(Exception):
    """A publish the bus could not complete.

    `retryable`: try the same events again later (message ids make a repeat harmless). Otherwise the
    bus refused them for good (it reports itself ``degraded``); the log still holds them and other
    workers catch up from it on their next gap or resync.
    """

    def __init__(self, message: str, *, retryable: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class Subscription(Protocol):
    async def close(self) -> None: ...


class EventBus(Protocol):
    """Publishes sequenced events on a session's channel and delivers them to subscribers.

    Delivery may duplicate, drop or reorder; subscribers apply by `seq` and catch up from the log.
    """

    async def publish(self, event: Event) -> None: ...

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Publish sequenced events of one session, in seq order; raises PublishError."""
        ...

    async def subscribe(self, session_code: str, handler: Handler) -> Subscription: ...

    async def debug(self, session_code: str, kind: str, detail: dict) -> None:
        """Best-effort diagnostics (rejections, conflicts, catch-ups, relay retries)."""
        ...

    async def healthy(self) -> bool: ...

    def health(self) -> BusHealth: ...

    async def close(self) -> None: ...
