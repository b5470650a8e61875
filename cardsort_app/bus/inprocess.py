"""The embedded default bus: delivery inside one process, no network (implements `service.bus_port`)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from cardsort_app.bus.inprocess_presence import InProcessPresence
from cardsort_app.domain.events import Event
from cardsort_app.service.bus_port import BusHealth, Handler, ResyncCallback

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Subscription:
    bus: InProcessBus
    session_code: str
    handler: Handler

    async def close(self) -> None:
        self.bus._handlers[self.session_code].discard(self)
        if not self.bus._handlers[self.session_code]:
            del self.bus._handlers[self.session_code]


@dataclass
class InProcessBus:
    presence: InProcessPresence = field(default_factory=InProcessPresence)
    _handlers: dict[str, set[_Subscription]] = field(default_factory=lambda: defaultdict(set))

    async def start(self) -> None:
        """Nothing to connect."""

    def on_resync(self, callback: ResyncCallback) -> None:
        """Delivery inside one process never loses continuity: there is never a resync to announce."""

    async def publish(self, event: Event) -> None:
        subscriptions = list(self._handlers.get(event.session_code, ()))
        results = await asyncio.gather(*(s.handler(event) for s in subscriptions), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("subscriber failed on %s seq %s", event.type, event.seq, exc_info=result)

    async def publish_many(self, events: Sequence[Event]) -> None:
        for event in events:
            await self.publish(event)

    async def subscribe(self, session_code: str, handler: Handler) -> _Subscription:
        subscription = _Subscription(self, session_code, handler)
        self._handlers[session_code].add(subscription)
        return subscription

    def subscribed_sessions(self) -> set[str]:
        return set(self._handlers)

    async def debug(self, session_code: str, kind: str, detail: dict) -> None:
        log.debug("%s %s %s", session_code, kind, detail)

    async def healthy(self) -> bool:
        return True

    def health(self) -> BusHealth:
        return ("ok", None)

    async def close(self) -> None:
        self._handlers.clear()
