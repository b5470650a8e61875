"""The event bus port: what the service needs of a fan-out between backend processes.

Adapters (cardsort_app/bus/) implement it; the service never imports them. The bus is never the source of
truth: delivery may duplicate, drop or reorder, and subscribers apply by `seq` and catch up from the log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, Protocol

from cardsort_app.domain.events import Event
from cardsort_app.service.presence import Presence

#: Receives one event delivered on a session's channel.
Handler = Callable[[Event], Awaitable[None]]
#: Called with a session code after the bus lost continuity on its channel (reconnect, re-attach): the
#: owner levels its projection with the log and republishes what the log holds as unpublished.
ResyncCallback = Callable[[str], Awaitable[None]]

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
    """Publishes sequenced events on a session's channel and delivers them to subscribers."""

    #: Who is online, as seen through this bus (per process in-process, across workers on Ably).
    presence: Presence

    async def start(self) -> None:
        """Connect (bounded wait); idempotent. Other calls may also start the bus on first use."""
        ...

    def on_resync(self, callback: ResyncCallback) -> None: ...

    async def publish(self, event: Event) -> None: ...

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Publish sequenced events of one session, in seq order (one round trip where the bus can);
        raises PublishError."""
        ...

    async def subscribe(self, session_code: str, handler: Handler) -> Subscription: ...

    async def debug(self, session_code: str, kind: str, detail: dict) -> None:
        """Best-effort diagnostics (rejections, conflicts, catch-ups, relay retries)."""
        ...

    async def healthy(self) -> bool: ...

    def health(self) -> BusHealth: ...

    async def close(self) -> None: ...
