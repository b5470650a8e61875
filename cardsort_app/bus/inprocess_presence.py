"""The in-process presence: this process's tabs are the whole truth (one worker, the embedded default)."""

from __future__ import annotations

import logging

from cardsort_app.bus.local_tabs import LocalTabs
from cardsort_app.service.presence import PresenceListener

log = logging.getLogger(__name__)


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
