"""A closed tab gives its memory back: its Reflex state and our per-tab records go a grace period after its
socket disconnects, unless the tab came back meanwhile.

Reflex 0.10's memory state manager keeps every tab's root state (the whole state tree, with the vars the
page loaded) until the token has been unused for `redis_token_expiration` (an hour by default), and a push
to the token (ours, to a tab that is gone) restarts that hour. With thousands of short visits that is most
of the process's memory. So each disconnect starts a timer of `CARDSORT_TAB_GRACE_SECONDS`; when it fires
and the token has no socket again, the token's state is purged from the state manager and our registries
forget it (`live.forget`).

Coming back after the purge is safe: every (re)connect of the Reflex frontend sends `hydrate_and_load`, so
the page's on_load rebuilds the tab's state from the log and the browser's localStorage identity (as a
reload does), and the browser's change queue resends what was never acknowledged (the log dedupes by id).
What a purged tab loses is only what lives nowhere else: e.g. focus mode being on, a notice it showed.

With several workers the states live in Redis, which expires them itself (`redis_token_expiration`); only
the process-memory manager is purged here, and our own per-tab records in every mode.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from typing import Any

import reflex as rx
from reflex.istate.manager.memory import StateManagerMemory

from cardsort_app import metrics

log = logging.getLogger(__name__)

#: Seconds after a purge before the freed heap is handed back to the OS (purges in a burst share one trim).
TRIM_AFTER_S = 5.0


def _malloc_trim() -> Any:
    """glibc's malloc_trim, or None elsewhere. Without it the resident size stays at its peak after the
    tabs are gone: the freed memory is reused by the process but never returned."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


class TabExpiry:
    def __init__(self, app: Any, grace_s: float, forget: Any) -> None:
        self._app = app
        self._grace_s = grace_s
        self._forget = forget  # our registries' per-tab records of a token, called once it is purged
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._trim = _malloc_trim()
        self._trim_timer: asyncio.TimerHandle | None = None
        self.purged = 0

    def _namespace(self) -> Any:
        return self._app.event_namespace

    def _memory_manager(self) -> StateManagerMemory | None:
        manager = self._app.state_manager
        return manager if isinstance(manager, StateManagerMemory) else None

    def held_states(self) -> int:
        """Tabs whose Reflex state this process holds in memory (0 with the Redis manager)."""
        manager = self._memory_manager()
        return len(manager.states) if manager is not None else 0

    def pending(self) -> int:
        return len(self._timers)

    def on_disconnect(self, token: str) -> None:
        self._schedule(token, self._grace_s)

    def on_connect(self, token: str) -> None:
        timer = self._timers.pop(token, None)
        if timer is not None:
            timer.cancel()

    def _schedule(self, token: str, delay: float) -> None:
        self.on_connect(token)  # one timer per token: the newest disconnect counts
        loop = asyncio.get_running_loop()
        self._timers[token] = loop.call_later(delay, self._expire, token)

    def _expire(self, token: str) -> None:
        self._timers.pop(token, None)
        if token in self._namespace().token_to_sid:
            return  # it came back: its socket's next disconnect starts a new timer
        manager = self._memory_manager()
        if manager is not None:
            key = rx.BaseStateToken(ident=token, cls=rx.State)
            lock = manager._states_locks.get(key.lock_key)
            if lock is not None and lock.locked():
                self._schedule(token, 1.0)  # an event or a push is running on it: try again shortly
                return
            # Reflex's own expiry does exactly this for an expired token (drops the state, its lock and
            # its deadline, and breaks the tree's parent/substate cycles so refcounting frees it at once).
            manager._purge_token(key)
        try:
            self._forget(token)
        except Exception:
            log.exception("forgetting tab records failed")
        self.purged += 1
        if self._trim is not None and self._trim_timer is None:
            self._trim_timer = asyncio.get_running_loop().call_later(TRIM_AFTER_S, self._give_back)

    def _give_back(self) -> None:
        self._trim_timer = None
        self._trim(0)


_expiry: TabExpiry | None = None


def install(app: Any, grace_s: float, forget: Any, records: Any) -> TabExpiry:
    """Watch Reflex's socket namespace: a disconnect starts the token's grace timer, a connect stops it.
    `forget(token)` drops our registries' records of a purged token; `records()` counts them (a gauge)."""
    global _expiry
    namespace = app.event_namespace
    if _expiry is not None and getattr(namespace, "_cardsort_expiry", False):
        return _expiry
    expiry = _expiry = TabExpiry(app, grace_s, forget)
    metrics.source(metrics.TAB_STATES, expiry.held_states)
    metrics.source(metrics.TAB_RECORDS, records)
    if namespace is None:
        return expiry
    original_link = namespace.link_token_to_sid
    original_disconnect = namespace.on_disconnect

    async def link_token_to_sid(sid: str, token: str, **kwargs: Any) -> Any:
        expiry.on_connect(token)
        return await original_link(sid, token, **kwargs)

    def on_disconnect(sid: str) -> Any:
        token = namespace.sid_to_token.get(sid)
        result = original_disconnect(sid)
        if token:
            expiry.on_disconnect(token)
        return result

    namespace.link_token_to_sid = link_token_to_sid
    namespace.on_disconnect = on_disconnect
    namespace._cardsort_expiry = True
    return expiry
