"""Who is online: ephemeral, per process, never in the log (a connection is not a domain fact).

A participant is online while at least one of their tabs holds a live websocket. Listeners hear
(session_code, participant_id, online) on every change, so a reconnecting tab never shows a duplicate:
presence is keyed by participant id, not by connection.
"""

from __future__ import annotations

import logging
from typing import Protocol

from cardsort_app.bus.local_tabs import LocalTabs, PresenceListener

log = logging.getLogger(__name__)


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
        self._tabs = LocalTabs()
        self._listeners: set[PresenceListener] = set()

    def listen(self, listener: PresenceListener) -> None:
        self._listeners.add(listener)

    def enter(self, client_token: str, code: str, participant_id: str) -> None:
        left, first = self._tabs.enter(client_token, code, participant_id)
        if left is not None:
            self._notify(*left, False)
        if first:
            self._notify(code, participant_id, True)

    def leave(self, client_token: str) -> None:
        if (gone := self._tabs.leave(client_token)) is not None:
            self._notify(*gone, False)

    def is_online(self, code: str, participant_id: str) -> bool:
        return participant_id in self._tabs.participants(code)

    def online(self, code: str) -> set[str]:
        return self._tabs.participants(code)

    async def synced(self, code: str) -> set[str]:
        """Nothing to wait for: this process is the whole truth."""
        return self.online(code)

    def _notify(self, code: str, participant_id: str, online: bool) -> None:
        for listener in list(self._listeners):
            try:
                listener(code, participant_id, online)
            except Exception:
                log.exception("presence listener failed")
