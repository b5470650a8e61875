"""SessionHub: one in-memory projection per active session, fed by the bus in strict `seq` order.

Whatever order the bus delivers in (duplicates, reordering, drops), a projection only ever moves from
version v to v+1; a gap is filled from the log, repeats are ignored. Listeners (the UI's push to tabs)
are told about every applied event, in order, exactly once per hub.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cardsort_app.domain.events import Event
from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.state import SessionState
from cardsort_app.service.bus_port import EventBus, Subscription
from cardsort_app.service.store_port import Store

log = logging.getLogger(__name__)

#: Called with the projection after `events` were applied to it (in seq order). Must not block.
Listener = Callable[[SessionState, Sequence[Event]], None]


@dataclass(eq=False)
class _Projection:
    state: SessionState
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    listeners: set[Listener] = field(default_factory=set)
    subscription: Subscription | None = None
    used: float = field(default_factory=time.monotonic)


class SessionHub:
    def __init__(self, store: Store, bus: EventBus) -> None:
        self._store = store
        self._bus = bus
        self._projections: dict[str, _Projection] = {}
        self._loading: dict[str, asyncio.Future[_Projection]] = {}

    async def state(self, code: str) -> SessionState:
        """The session's current projection, loaded from the log (snapshot + tail) on first use."""
        return (await self._projection(code)).state

    def open_sessions(self) -> int:
        """How many sessions this process holds in memory (CARDSORT_MAX_OPEN_SESSIONS caps new ones)."""
        return len(self._projections) + len(self._loading)

    def loaded(self, code: str) -> SessionState | None:
        if code in self._loading:
            return None  # registered but still empty
        p = self._projections.get(code)
        return p.state if p else None

    async def _projection(self, code: str) -> _Projection:
        # While loading, the projection is registered (so `receive` keeps what arrives meanwhile) but still
        # empty: callers must wait for the load, not take the empty state.
        if (pending := self._loading.get(code)) is not None:
            return await pending
        if (p := self._projections.get(code)) is not None:
            p.used = time.monotonic()
            return p
        future: asyncio.Future[_Projection] = asyncio.get_running_loop().create_future()
        self._loading[code] = future
        subscription: Subscription | None = None
        try:
            p = _Projection(state=SessionState.empty(code))
            # Subscribe before loading so nothing published in between is missed; early events are
            # either already in the load (ignored as repeats) or trigger a gap fetch.
            p.subscription = subscription = await self._bus.subscribe(code, self.receive)
            self._projections[code] = p
            async with p.lock:
                loaded = await self._store.load(code)
                if loaded.version > p.state.version:
                    p.state = loaded
            future.set_result(p)
            return p
        except BaseException as exc:
            self._projections.pop(code, None)
            if subscription is not None:  # a failed load must not leave a subscription behind
                try:
                    await subscription.close()
                except Exception:
                    log.exception("closing the subscription of %s failed", code)
            future.set_exception(exc)
            future.exception()  # mark retrieved: the caller re-raises it
            raise
        finally:
            del self._loading[code]

    async def receive(self, event: Event) -> None:
        """Apply a sequenced event from the bus (or from the local writer) to its projection."""
        p = self._projections.get(event.session_code)
        if p is None or event.seq is None:
            return
        async with p.lock:
            version = p.state.version
            if event.seq <= version:
                return  # a repeat
            if event.seq == version + 1:
                applied = [event]
            else:
                # A gap: the log has everything up to at least event.seq.
                log.info("gap in %s: have %s, got %s; catching up", event.session_code, version, event.seq)
                applied = await self._store.events_after(event.session_code, version)
            self._apply(p, applied)

    async def catch_up(self, code: str) -> SessionState:
        """Bring a projection level with the log (after a reconnect, a conflict, a restart)."""
        p = await self._projection(code)
        async with p.lock:
            self._apply(p, await self._store.events_after(code, p.state.version))
        return p.state

    def _apply(self, p: _Projection, events: Sequence[Event]) -> None:
        applied: list[Event] = []
        state = p.state
        for event in events:
            if event.seq != state.version + 1:
                continue
            state = reduce(state, event)
            applied.append(event)
        if not applied:
            return
        p.state = state
        for listener in list(p.listeners):
            try:
                listener(state, applied)
            except Exception:  # one broken listener must not stop the others
                log.exception("listener failed")

    async def listen(self, code: str, listener: Listener) -> SessionState:
        p = await self._projection(code)
        p.listeners.add(listener)
        return p.state

    async def unlisten(self, code: str, listener: Listener) -> None:
        p = self._projections.get(code)
        if p is not None:
            p.listeners.discard(listener)

    async def release_idle(self, idle_for: float = 120.0) -> list[str]:
        """Let go of projections (and their bus subscriptions) that no tab listens to and nobody used for
        `idle_for` seconds, e.g. loaded for a REST call: a worker holds only the sessions its tabs are in."""
        cutoff = time.monotonic() - idle_for
        idle = [c for c, p in self._projections.items() if not p.listeners and p.used <= cutoff]
        for code in idle:
            await self.release(code)
        return idle

    async def release(self, code: str) -> None:
        """Drop a projection nobody listens to, and its bus subscription."""
        p = self._projections.get(code)
        if p is None or p.listeners or code in self._loading:  # a loader is about to hand it out
            return
        del self._projections[code]
        if p.subscription is not None:
            await p.subscription.close()

    def active_sessions(self) -> list[str]:
        return list(self._projections)
