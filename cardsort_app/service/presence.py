"""Who is online: ephemeral, per process, never in the log (a connection is not a domain fact).

A participant is online while at least one of their tabs holds a live websocket. Listeners hear
(session_code, participant_id, online) on every change, so a reconnecting tab never shows a duplicate:
presence is keyed by participant id, not by connection.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

PresenceListener = Callable[[str, str, bool], None]


class Presence(Protocol):
    """Who is online. In-process for one worker; Ably presence (bus.presence) across workers."""

    def listen(self, listener: PresenceListener) -> None: ...
    def enter(self, client_token: str, code: str, participant_id: str) -> None: ...
    def leave(self, client_token: str) -> None: ...
    def is_online(self, code: str, participant_id: str) -> bool: ...
    def online(self, code: str) -> set[str]: ...
    async def synced(self, code: str) -> set[str]: ...


class InProcessPresence:
    def __init__(self) -> None:
        self._tabs: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        self._where: dict[str, tuple[str, str]] = {}  # client token -> (session, participant)
        self._listeners: set[PresenceListener] = set()

    def listen(self, listener: PresenceListener) -> None:
        self._listeners.add(listener)

    def enter(self, client_token: str, code: str, participant_id: str) -> None:
        previous = self._where.get(client_token)
        if previous == (code, participant_id):
            return
        if previous is not None:
            self.leave(client_token)
        self._where[client_token] = (code, participant_id)
        tabs = self._tabs[(code, participant_id)]
        tabs.add(client_token)
        if len(tabs) == 1:
            self._notify(code, participant_id, True)

    def leave(self, client_token: str) -> None:
        where = self._where.pop(client_token, None)
        if where is None:
            return
        tabs = self._tabs.get(where)
        if tabs is None:
            return
        tabs.discard(client_token)
        if not tabs:
            del self._tabs[where]
            self._notify(*where, False)

    def is_online(self, code: str, participant_id: str) -> bool:
        return bool(self._tabs.get((code, participant_id)))

    def online(self, code: str) -> set[str]:
        return {pid for (c, pid), tabs in self._tabs.items() if c == code and tabs}

    async def synced(self, code: str) -> set[str]:
        """Nothing to wait for: this process is the whole truth."""
        return self.online(code)

    def _notify(self, code: str, participant_id: str, online: bool) -> None:
        for listener in list(self._listeners):
            try:
                listener(code, participant_id, online)
            except Exception:
                log.exception("presence listener failed")
