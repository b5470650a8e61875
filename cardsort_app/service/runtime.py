"""The process's service runtime: store, bus, hub, presence, relay and service, wired to each other.

It knows only the service's ports; the composition root (cardsort_app/bootstrap.py) builds it from the
settings with the concrete adapters and hands this module a factory (`provide`), so the UI and REST layers
reach the runtime without importing an adapter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from cardsort_app.service.bus_port import EventBus
from cardsort_app.service.feed import ChangeFeed
from cardsort_app.service.hub import SessionHub
from cardsort_app.service.lifecycle import end_idle_sessions
from cardsort_app.service.limits import Limits
from cardsort_app.service.presence import Presence
from cardsort_app.service.queries import SessionQueries
from cardsort_app.service.relay import OutboxRelay
from cardsort_app.service.sessions import SessionService
from cardsort_app.service.store_port import Store

log = logging.getLogger(__name__)

#: How often a worker lets go of the projections (and bus subscriptions) nobody uses.
RELEASE_IDLE_EVERY_S = 30.0
#: Every how many of those rounds it ends the sessions idle for `Runtime.idle_end_minutes` (once a minute).
END_IDLE_EVERY_ROUNDS = 2


@dataclass
class Runtime:
    """The UI and REST use `service` (commands), `queries` and `feed`; the rest is the wiring behind them."""

    store: Store
    bus: EventBus
    hub: SessionHub
    presence: Presence
    service: SessionService
    relay: OutboxRelay
    queries: SessionQueries
    feed: ChangeFeed
    #: Sessions idle this long are ended (CARDSORT_IDLE_END_MINUTES; 0: never).
    idle_end_minutes: float = 240.0
    _housekeeping: asyncio.Task | None = None

    @classmethod
    def assemble(
        cls, store: Store, bus: EventBus, idle_end_minutes: float = 240.0, limits: Limits | None = None
    ) -> Runtime:
        hub = SessionHub(store, bus)
        relay = OutboxRelay(store, bus)
        service = SessionService(store, bus, hub, relay, limits)
        queries = SessionQueries(store, bus, hub, bus.presence)
        feed = ChangeFeed(hub, bus.presence)
        return cls(store, bus, hub, bus.presence, service, relay, queries, feed, idle_end_minutes)

    async def start(self) -> None:
        """Connect the bus, and publish whatever an earlier process appended but never published."""
        await self.bus.start()
        self.bus.on_resync(self._resync)
        await self.relay.recover()
        self._housekeeping = asyncio.get_running_loop().create_task(self._release_idle_sessions())

    async def _release_idle_sessions(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(RELEASE_IDLE_EVERY_S)
            try:
                await self.hub.release_idle()
            except Exception:
                log.exception("releasing idle sessions failed")
            rounds += 1
            if rounds % END_IDLE_EVERY_ROUNDS == 0:
                try:
                    await end_idle_sessions(self.store, self.service, self.idle_end_minutes)
                except Exception:
                    log.exception("ending idle sessions failed")

    async def _resync(self, code: str) -> None:
        """After the bus lost continuity: level the projection with the log, republish what is pending."""
        if self.hub.loaded(code) is not None:  # a session released meanwhile needs nothing
            await self.hub.catch_up(code)
        await self.relay.recover(code)

    async def close(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        await self.relay.close()
        await self.bus.close()
        await self.store.close()


_runtime: Runtime | None = None
_factory: Callable[[], Runtime] | None = None


def provide(factory: Callable[[], Runtime]) -> None:
    """The composition root says how to build the process's runtime (called once, at import of the app)."""
    global _factory
    _factory = factory


def get_runtime() -> Runtime:
    """The process's runtime, built on first use (lifespan start-up, or the first request)."""
    global _runtime
    if _runtime is None:
        if _factory is None:
            raise RuntimeError("no runtime factory: cardsort_app.bootstrap.install() wires the app")
        _runtime = _factory()
    return _runtime


async def shutdown() -> None:
    global _runtime
    if _runtime is not None:
        await _runtime.close()
        _runtime = None
