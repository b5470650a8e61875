"""The presence port: who is online. Ephemeral, per process, never in the log (a connection is not a domain
fact).

A participant is online while at least one of their tabs holds a live websocket. Listeners hear
(session_code, participant_id, online) on every change, so a reconnecting tab never shows a duplicate:
presence is keyed by participant id, not by connection. Implementations: the in-process presence and Ably
presence across workers (cardsort_app/bus/), each handed out by its bus (`EventBus.presence`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

#: Hears (session_code, participant_id, online) on every change of a participant's online state.
PresenceListener = Callable[[str, str, bool], None]


class Presence(Protocol):
    def listen(self, listener: PresenceListener) -> None: ...
    def enter(self, client_token: str, code: str, participant_id: str) -> None: ...
    def leave(self, client_token: str) -> None: ...
    def is_online(self, code: str, participant_id: str) -> bool: ...
    def online(self, code: str) -> set[str]: ...

    async def synced(self, code: str) -> set[str]:
        """Who is online once this process has heard from every other (REST answers wait for it)."""
        ...
