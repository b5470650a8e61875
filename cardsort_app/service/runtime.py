"""Wiring: builds the store, bus, hub, presence and service from the environment, once per process."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cardsort_app.bus.base import EventBus
from cardsort_app.bus.inprocess import InProcessBus
from cardsort_app.service.hub import SessionHub
from cardsort_app.service.lifecycle import end_idle_sessions, idle_end_minutes
from cardsort_app.service.presence import InProcessPresence, Presence
from cardsort_app.service.relay import OutboxRelay
from cardsort_app.service.sessions import SessionService
from cardsort_app.service.store_port import AsyncStore
from cardsort_app.store import migrate
from cardsort_app.store.eventstore import EventStore

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """DATABASE_URL, or the embedded default: a SQLite file under ./data."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'data' / 'cardsort.db'}"


def snapshot_every() -> int:
    return int(os.environ.get("CARDSORT_SNAPSHOT_EVERY", "100"))


@dataclass
class Runtime:
    store: AsyncStore
    bus: EventBus
    hub: SessionHub
    presence: Presence
    service: SessionService
    relay: OutboxRelay
    _housekeeping: asyncio.Task | None = None

    async def start(self) -> None:
        """Connect the bus, and publish whatever an earlier process appended but never published."""
        if (start := getattr(self.bus, "start", None)) is not None:
            await start()
        if (on_resync := getattr(self.bus, "on_resync", None)) is not None:
            on_resync(self._resync)
        await self.relay.recover()
        self._housekeeping = asyncio.get_running_loop().create_task(self._release_idle_sessions())

    async def _release_idle_sessions(self, every: float = 30.0) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(every)
            try:
                await self.hub.release_idle()
            except Exception:
                log.exception("releasing idle sessions failed")
            rounds += 1
            if rounds % 2 == 0:  # once a minute: sessions idle for CARDSORT_IDLE_END_MINUTES end
                try:
                    await end_idle_sessions(self.store, self.service, idle_end_minutes())
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
        await asyncio.to_thread(self.store.sync.dispose)


_runtime: Runtime | None = None


def bus_from_env() -> EventBus:
    """AblyBus when ABLY_API_KEY is set (see cardsort_app/bus/ably_bus.py), else the in-process bus."""
    if os.environ.get("ABLY_API_KEY"):
        from cardsort_app.bus.ably_bus import AblyBus

        bus = AblyBus.from_env()
        if bus is not None:
            return bus
    return InProcessBus()


def build(url: str | None = None, bus: EventBus | None = None) -> Runtime:
    url = url or database_url()
    migrate.upgrade(url)  # the schema exists only through migrations, applied at start-up
    store = AsyncStore(EventStore(url, snapshot_every=snapshot_every()))
    bus = bus or bus_from_env()
    hub = SessionHub(store, bus)
    relay = OutboxRelay(store, bus)
    presence = getattr(bus, "presence", None) or InProcessPresence()
    return Runtime(store, bus, hub, presence, SessionService(store, bus, hub, relay), relay)


def get_runtime() -> Runtime:
    """The process's runtime, built on first use (lifespan start-up, or the first request)."""
    global _runtime
    if _runtime is None:
        _runtime = build()
        log.info("cardsort runtime ready on %s", database_url().split("@")[-1])
    return _runtime


async def shutdown() -> None:
    global _runtime
    if _runtime is not None:
        await _runtime.close()
        _runtime = None
