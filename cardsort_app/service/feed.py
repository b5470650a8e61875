"""The per-session change feed the UI pushes from, and the tabs that make a participant online.

A watcher hears (projection, events) after every change the hub applies to the session, in `seq` order;
when the last watcher of a session leaves, this worker lets the session go (projection and bus
subscription). Tabs are reported here as they open and close; presence listeners hear who came and went.
"""

from __future__ import annotations

from cardsort_app.domain.state import SessionState
from cardsort_app.service.hub import Listener, SessionHub
from cardsort_app.service.presence import Presence, PresenceListener


class ChangeFeed:
    def __init__(self, hub: SessionHub, presence: Presence) -> None:
        self._hub = hub
        self._presence = presence

    async def watch(self, code: str, listener: Listener) -> SessionState:
        """Hear every change of `code` from now on; returns the projection as it is now."""
        return await self._hub.listen(code, listener)

    def current(self, code: str) -> SessionState | None:
        """The projection as it is now, without waiting: None while this worker does not hold it."""
        return self._hub.loaded(code)

    async def unwatch(self, code: str, listener: Listener) -> None:
        await self._hub.unlisten(code, listener)
        await self._hub.release(code)  # only when nobody else watches it

    def tab_opened(self, client_token: str, code: str, participant_id: str) -> None:
        self._presence.enter(client_token, code, participant_id)

    def tab_closed(self, client_token: str) -> None:
        self._presence.leave(client_token)

    def on_presence(self, listener: PresenceListener) -> None:
        self._presence.listen(listener)
