"""The service's read side, for the UI and REST: a session's projection, its log, who is online, health.

Callers authorise first (`SessionService.check_facilitator`, `authenticate`, `require_session`); these
answer for a code they were handed.
"""

from __future__ import annotations

from cardsort_app.domain.events import Event
from cardsort_app.domain.state import SessionState
from cardsort_app.service.bus_port import BusHealth, EventBus
from cardsort_app.service.hub import SessionHub
from cardsort_app.service.presence import Presence
from cardsort_app.service.store_port import SessionRecord, Store


class SessionQueries:
    def __init__(self, store: Store, bus: EventBus, hub: SessionHub, presence: Presence) -> None:
        self._store = store
        self._bus = bus
        self._hub = hub
        self._presence = presence

    async def state(self, code: str) -> SessionState:
        """The session's current projection (this worker's, level with every event it has applied)."""
        return self._hub.loaded(code) or await self._hub.state(code)

    async def state_at(self, code: str, seq: int) -> SessionState:
        """The session as it was right after event `seq` (time travel), from the log."""
        return await self._store.load_at(code, seq)

    async def events_after(self, code: str, seq: int, limit: int | None = None) -> list[Event]:
        """The log itself, after `seq` (at most `limit` events)."""
        return await self._store.events_after(code, seq, limit)

    async def session_record(self, code: str) -> SessionRecord | None:
        return await self._store.get_session(code)

    def online(self, code: str) -> set[str]:
        """Who is online, as this worker knows it now."""
        return self._presence.online(code)

    async def online_synced(self, code: str) -> set[str]:
        """Who is online once this worker has heard from the others (a REST answer waits for it)."""
        return await self._presence.synced(code)

    def loaded_sessions(self) -> int:
        """How many sessions this worker holds in memory (metrics)."""
        return len(self._hub.active_sessions())

    async def outbox_size(self) -> int:
        """How many appended events wait for the relay, across workers (metrics)."""
        return await self._store.count_unpublished()

    async def database_health(self) -> str:
        """``"ok"``, or ``"error: <exception type>"`` when the database or its schema is not usable."""
        try:
            await self._store.ping()
        except Exception as exc:  # report, don't crash the probe
            return f"error: {type(exc).__name__}"
        return "ok"

    def bus_health(self) -> BusHealth:
        return self._bus.health()
