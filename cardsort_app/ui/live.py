"""Live push from the session projections to the browser tabs that show them.

One hub listener per session in this process. What every tab of the session shows (participants, steps,
presence, reveals) goes out once per change as the changed rows, in one Socket.IO frame to the session's
room (`live_feed.SessionFeed`): its cost per tab does not grow with the session. Only the tabs whose own
data changed get a Reflex push: the actor's own board (its piles, its step) and the facilitator
dashboards. Each such tab has at most one push task at a time; events arriving meanwhile only mark it
dirty, so a burst coalesces into one delta. A push reads the projection inside the tab's lock, so a later
push can never carry an older value, and it runs in its own task, never awaited inside an event handler
(two tabs pushing to each other would deadlock otherwise).

Presence is fed from Reflex's own websocket lifecycle: a tab is online from the moment its board loads
until its socket disconnects, and again when the same tab reconnects.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import reflex as rx
import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from cardsort_app import metrics
from cardsort_app.domain.events import Event, EventType
from cardsort_app.domain.state import SessionState
from cardsort_app.service.runtime import Runtime, get_runtime
from cardsort_app.ui import socket_writer
from cardsort_app.ui.live_feed import (
    FACILITATOR,
    LIVE_EVENT,
    Lists,
    Reveals,
    Rows,
    SessionFeed,
    Windows,
    feed_key,
    room,
)

log = logging.getLogger(__name__)

#: Disconnected tabs remembered for a reconnect.
MAX_PARKED = 10_000
#: The newest events of each session with tabs here, for the dashboards' log (no log read per change).
RECENT_EVENTS = 100

#: Events that change what every tab of the session shows (the participants panel, reveals).
_SHOWN_TO_EVERYONE = frozenset(
    {
        EventType.SESSION_CREATED,
        EventType.PARTICIPANT_JOINED,
        EventType.PARTICIPANT_LEFT,
        EventType.STEP_TRANSITIONED,
        EventType.SELECTION_REVEALED,
        EventType.PARTICIPANT_ERASED,
    }
)
#: Of those, the ones a participant makes while the others watch: their frame leaves at once. The others
#: (joins, leaves) and presence come in storms when a room fills up: their frames coalesce over
#: `COALESCE_S`, so 200 tabs joining cost a few frames per second to every tab, not 4 per tab.
_AT_ONCE = frozenset({EventType.STEP_TRANSITIONED, EventType.SELECTION_REVEALED})
COALESCE_S = 0.05

#: The facilitator's events change every tab's own state (pacing, the timer, the end; the team board
#: opened or locked: each board links to it): each tab of the session is pushed, not only the sender's
#: (the facilitator has no board).
#: What a dashboard shows of these events comes only from its facilitator feed (the participants' rows,
#: the event log and its head): its own Reflex vars (results, chart, team board, workshop) stay as they
#: are, so it gets no push. A step change leaves every pile, reveal and the team board as they were (a
#: join may not: one after a leave brings that participant's piles back into the results).
_DASHBOARD_FEED_ONLY = frozenset({EventType.STEP_TRANSITIONED})

_FOR_EVERY_TAB = frozenset(
    {
        EventType.STEP_OPENED,
        EventType.TIMER_STARTED,
        EventType.TIMER_EXTENDED,
        EventType.TIMER_STOPPED,
        EventType.SESSION_ENDED,
        EventType.TEAM_BOARD_OPENED,
        EventType.TEAM_BOARD_LOCKED,
    }
)

#: The key of the dashboards in `LiveRegistry.own` (no participant id is empty).
DASHBOARDS = ""


@dataclass
class _Tab:
    code: str
    state_cls: type[rx.State]
    participant_id: str | None
    everything: bool  # a dashboard: its own view holds everyone's data, so every change is its own
    dirty: bool = False
    resync: bool = False  # it missed frames (a reconnect): send it the whole shared list once
    task: asyncio.Task | None = None
    sid: str | None = None  # its socket (in the room of its audience's feed): only its end detaches the tab
    shown: int = 0  # the projection version its own handler last rendered whole (`rendered`)

    @property
    def audience(self) -> str:
        return FACILITATOR if self.everything else ""

    @property
    def whose(self) -> str | None:
        """Whose changes are this tab's own: its participant's, or everyone's (DASHBOARDS) on a dashboard;
        None for a board that has not joined (no change is its own)."""
        return DASHBOARDS if self.everything else (self.participant_id or None)


@dataclass(frozen=True)
class Audience:
    """What one audience's feed shows: the facilitator's dashboards see real names and everyone's piles."""

    rows: Rows
    reveals: Reveals
    lists: Lists
    windows: Windows = field(default_factory=dict)  # lists of only their newest rows (the event log)


@dataclass
class LiveRegistry:
    app: Any = None
    tabs: dict[str, _Tab] = field(default_factory=dict)  # client token -> tab
    # Tabs whose socket is gone: not pushed to (a closed tab must cost nothing), re-attached on reconnect.
    parked: dict[str, _Tab] = field(default_factory=dict)
    by_session: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # code -> whose tabs (a participant id, or DASHBOARDS) -> tokens: a change marks its own participant's
    # tabs and the dashboards without a pass over every tab of the session
    own: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    listeners: dict[str, Callable[[SessionState, Sequence[Event]], None]] = field(default_factory=dict)
    feeds: dict[str, SessionFeed] = field(default_factory=dict)  # feed_key(code, audience) -> feed
    audiences: dict[str, Audience] = field(default_factory=dict)  # registered by the dashboard's state
    recent: dict[str, deque[Event]] = field(default_factory=dict)  # code -> its newest applied events
    online: dict[str, set[str]] = field(default_factory=dict)  # code -> who is online (`_online`)
    hears_presence: bool = False  # `on_presence` is hooked into the presence port (install)

    @property
    def runtime(self) -> Runtime:
        return get_runtime()

    async def attach(
        self,
        token: str,
        code: str,
        state_cls: type[rx.State],
        participant_id: str | None,
        *,
        sid: str | None = None,
        everything: bool = False,
    ) -> None:
        """Register a tab for live updates of `code` (and as online, for a participant's board); its socket
        `sid` joins the session's room, which carries the shared rows."""
        previous = self.tabs.get(token)
        if previous is not None and previous.code != code:
            await self.detach(token)
        self.parked.pop(token, None)
        if previous is not None and previous.sid and previous.everything and not everything:
            await self._leave_room(previous.sid, feed_key(code, FACILITATOR))  # no longer a dashboard
        if previous is not None:
            self._unindex(token, previous)
        tab = self.tabs[token] = _Tab(code, state_cls, participant_id, everything, sid=sid)
        self.by_session[code].add(token)
        if (whose := tab.whose) is not None:
            self.own.setdefault(code, {}).setdefault(whose, set()).add(token)
        if code not in self.listeners:
            listener = self._make_listener(code)
            self.listeners[code] = listener
            await self.runtime.feed.watch(code, listener)
        if sid is not None:
            await self._enter_room(sid, feed_key(code, tab.audience))
        if participant_id:
            self.runtime.feed.tab_opened(token, code, participant_id)

    def snapshot(self, code: str, audience: str = "") -> dict[str, Any]:
        """The whole shared list of `code` for `audience`, stamped, for a tab that (re)loads."""
        return self.feed(code, audience).snapshot()

    def feed(self, code: str, audience: str = "") -> SessionFeed:
        key = feed_key(code, audience)
        feed = self.feeds.get(key)
        if feed is None:
            changes = self.runtime.feed
            if audience:
                shows = self.audiences[audience]
            else:
                from cardsort_app.ui.board_state import participant_rows, reveal_rows  # ui rows, one place

                shows = Audience(participant_rows, reveal_rows, {})
            feed = self.feeds[key] = SessionFeed(
                code,
                state=lambda: changes.current(code),
                online=lambda: self._online(code),
                rows=shows.rows,
                reveals=shows.reveals,
                emit=self._emit,
                on_sent=None if audience else metrics.APPENDED_PUSHED.observe,
                audience=audience,
                lists=shows.lists,
                windows=shows.windows,
                emit_now=self._emit_now,
            )
        return feed

    def _unindex(self, token: str, tab: _Tab) -> None:
        by_whom = self.own.get(tab.code)
        if by_whom is None or (whose := tab.whose) is None or (tokens := by_whom.get(whose)) is None:
            return
        tokens.discard(token)
        if not tokens:
            del by_whom[whose]
            if not by_whom:
                del self.own[tab.code]

    def _online(self, code: str) -> set[str]:
        """Who is online in `code`, asked once per presence change (the presence port scans every tab of
        the process), not on every change of the session: `on_presence` hears each change of that set."""
        if not self.hears_presence:  # no `on_presence`: the cache would never be told
            return self.runtime.queries.online(code)
        online = self.online.get(code)
        if online is None:
            online = self.online[code] = self.runtime.queries.online(code)
        return online

    async def _emit(self, to_room: str, frame: dict[str, Any]) -> None:
        if self.app is not None and self.app.sio is not None:
            await self.app.sio.emit(LIVE_EVENT, frame, to=to_room, namespace=self._namespace())

    def _emit_now(self, to_room: str, frame: dict[str, Any]) -> bool:
        """The frame, encoded once, straight into the send queue of every socket of the room, without a
        task per socket (what `AsyncServer.emit` does): nothing else runs on the loop before every tab's
        writer has it. False (the caller awaits `emit`) when the server is not the plain in-process one."""
        sio = self.app.sio if self.app is not None else None
        if sio is None or type(sio.manager) is not socketio.AsyncManager or not hasattr(sio.eio, "sockets"):
            return False
        namespace = self._namespace()
        encoded = sio.packet_class(sio_packet.EVENT, namespace=namespace, data=[LIVE_EVENT, frame]).encode()
        if not isinstance(encoded, str):  # binary attachments: never in our frames, but let emit do it
            return False
        pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        sockets = sio.eio.sockets
        for _sid, eio_sid in sio.manager.get_participants(namespace, to_room):
            socket = sockets.get(eio_sid)
            if socket is not None and not socket.closed:
                socket.queue.put_nowait(pkt)
        return True

    def _namespace(self) -> str:
        namespace = getattr(self.app, "event_namespace", None)
        return namespace.namespace if namespace is not None else "/_event"

    async def _enter_room(self, sid: str, key: str) -> None:
        if self.app is None or self.app.sio is None:
            return
        try:
            await self.app.sio.enter_room(sid, room(key), namespace=self._namespace())
        except Exception:  # the socket went away meanwhile: its reconnect joins again
            log.debug("socket %s left before joining %s", sid, key)

    async def _leave_room(self, sid: str, key: str) -> None:
        if self.app is None or self.app.sio is None:
            return
        try:
            await self.app.sio.leave_room(sid, room(key), namespace=self._namespace())
        except Exception:  # the socket is gone: it left every room
            log.debug("socket %s left before leaving %s", sid, key)

    async def detach(self, token: str, sid: str | None = None) -> None:
        """Forget a tab; with `sid`, only if it is still attached through that socket (a reload's new
        socket may have attached before the old one's end was processed: that tab stays)."""
        if sid is not None and not self._through(token, sid):
            return
        tab = self.tabs.pop(token, None)
        self.runtime.feed.tab_closed(token)
        if tab is None:
            return
        self._unindex(token, tab)
        if tab.everything and tab.sid:  # a tab that stops being this session's dashboard hears no more
            await self._leave_room(tab.sid, feed_key(tab.code, FACILITATOR))
        tokens = self.by_session.get(tab.code)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del self.by_session[tab.code]
                for audience in ("", *self.audiences):
                    feed = self.feeds.pop(feed_key(tab.code, audience), None)
                    if feed is not None:
                        feed.close()
                self.recent.pop(tab.code, None)
                self.online.pop(tab.code, None)
                from cardsort_app.ui.board_state import forget_rows

                forget_rows(tab.code)
                listener = self.listeners.pop(tab.code, None)
                if listener is not None:
                    await self.runtime.feed.unwatch(tab.code, listener)

    def events_after(self, code: str, seq: int) -> list[Event] | None:
        """The events after `seq` as this process applied them, when it still holds all of them (else
        None: read the log)."""
        recent = self.recent.get(code)
        if not recent or (recent[0].seq or 0) > seq + 1:
            return None
        # `recent` holds consecutive seqs (applied in order, seeded from the log): slice, not scan
        skip = max(0, seq + 1 - (recent[0].seq or 0))
        after = list(itertools.islice(recent, skip, None))
        if after and after[0].seq != max(seq + 1, recent[0].seq or 0):  # not consecutive after all
            return [e for e in recent if (e.seq or 0) > seq]
        return after

    async def seed(self, code: str) -> None:
        """Make sure this process holds the session's newest `RECENT_EVENTS` events (a dashboard's log):
        one log read at most, by a tab already attached, so every event applied since is in `recent`."""
        queries = self.runtime.queries
        since = max(0, (await queries.state(code)).version - RECENT_EVENTS)
        if self.events_after(code, since) is not None:
            return
        older = await queries.events_after(code, since, RECENT_EVENTS)
        if code not in self.by_session:
            return  # every tab left meanwhile: nothing to keep
        recent = self.recent.get(code) or deque()
        first = (recent[0].seq or 0) if recent else None
        merged = [e for e in older if first is None or (e.seq or 0) < first] + list(recent)
        self.recent[code] = deque(merged[-RECENT_EVENTS:], maxlen=RECENT_EVENTS)

    def _make_listener(self, code: str) -> Callable[[SessionState, Sequence[Event]], None]:
        def on_events(_state: SessionState, events: Sequence[Event]) -> None:
            self.recent.setdefault(code, deque(maxlen=RECENT_EVENTS)).extend(events)
            if any(e.type in _AT_ONCE for e in events):
                self.feed(code).push_now()  # the appended change leaves before anything else runs
            elif any(e.type in _SHOWN_TO_EVERYONE for e in events):
                self.feed(code).mark(timed=True, coalesce=COALESCE_S)
            for audience in self.audiences:  # every event changes what the dashboards show
                if (feed := self.feeds.get(feed_key(code, audience))) is not None:
                    feed.mark()
            if any(e.type in _FOR_EVERY_TAB for e in events):
                for token in list(self.by_session.get(code, ())):
                    self.mark(token)
                return
            # Otherwise an event changes only its own participant's board (and the dashboards, unless
            # their feed alone shows it).
            dashboards = any(e.type not in _DASHBOARD_FEED_ONLY for e in events)
            self._mark_own(code, {e.participant_id for e in events}, dashboards)

        return on_events

    def _mark_own(self, code: str, participant_ids: set[str], dashboards: bool) -> None:
        by_whom = self.own.get(code)
        if by_whom is None:
            return
        for whose in (*participant_ids, DASHBOARDS) if dashboards else participant_ids:
            for token in list(by_whom.get(whose, ())):
                self.mark(token)

    def mark(self, token: str) -> None:
        tab = self.tabs.get(token)
        if tab is None:
            return
        tab.dirty = True
        if tab.task is None or tab.task.done():
            tab.task = asyncio.get_running_loop().create_task(self._push(token, tab))

    def rendered(self, token: str, version: int) -> None:
        """The tab's own handler just rendered the confirmed projection at `version` into its vars (the
        acting tab's `send_changes`): a push of that version or an older one would change nothing."""
        tab = self.tabs.get(token)
        if tab is not None and version > tab.shown:
            tab.shown = version

    def _seen(self, tab: _Tab) -> bool:
        state = self.runtime.feed.current(tab.code)
        return state is not None and tab.shown >= state.version

    async def _push(self, token: str, tab: _Tab) -> None:
        while tab.dirty and self.tabs.get(token) is tab:
            tab.dirty = False
            if not tab.resync and self._seen(tab):
                continue  # its own handler already rendered this version (no state lock, no delta)
            try:
                resync, tab.resync = tab.resync, False
                if resync and tab.everything:
                    await self.seed(tab.code)  # the log it missed while away
                async with self.app.modify_state(rx.BaseStateToken(ident=token, cls=tab.state_cls)) as root:
                    state = await root.get_state(tab.state_cls)
                    await state._sync()
                    if resync and hasattr(state, "_show_live"):
                        state._show_live(self.snapshot(tab.code, tab.audience))
            except Exception:
                log.exception("push to tab failed")

    # --- websocket lifecycle hooks --------------------------------------------------------------------
    def on_presence(self, code: str, _participant_id: str, _online: bool) -> None:
        """One row changes for everyone (one frame to the room); only dashboards get a Reflex push."""
        self.online.pop(code, None)
        if code in self.by_session:
            for audience in ("", *self.audiences):
                if audience == "" or feed_key(code, audience) in self.feeds:
                    self.feed(code, audience).mark(coalesce=COALESCE_S)

    def on_socket_connect(self, token: str, sid: str) -> None:
        tab = self.parked.pop(token, None)
        if tab is None:
            return
        asyncio.get_running_loop().create_task(self._reattach(token, sid, tab))

    async def _reattach(self, token: str, sid: str, tab: _Tab) -> None:
        try:
            await self.attach(
                token, tab.code, tab.state_cls, tab.participant_id, sid=sid, everything=tab.everything
            )
        except Exception:
            log.exception("re-attaching a reconnected tab failed")
            return
        self.tabs[token].resync = True  # it missed frames while away: the whole list, once
        self.mark(token)

    def _through(self, token: str, sid: str) -> bool:
        """Whether the tab of `token` is attached through socket `sid` (or through no known socket)."""
        tab = self.tabs.get(token)
        return tab is not None and tab.sid in (None, sid)

    def forget(self, token: str) -> None:
        """A tab gone for good (ui/tab_expiry.py): drop the record kept for its reconnect."""
        self.parked.pop(token, None)

    def records(self) -> int:
        return len(self.tabs) + len(self.parked)

    def on_socket_disconnect(self, token: str, sid: str) -> None:
        tab = self.tabs.get(token)
        if tab is None:
            self.runtime.feed.tab_closed(token)
            return
        if not self._through(token, sid):
            return  # an older socket of a reloaded tab: the tab lives on through its new one
        # Stop pushing to it and let its session go when it was the last; remember it for a reconnect.
        asyncio.get_running_loop().create_task(self.detach(token, sid))
        self.parked[token] = tab
        if len(self.parked) > MAX_PARKED:  # tabs closed for good never come back: forget the oldest
            del self.parked[next(iter(self.parked))]


live = LiveRegistry()


def install(app: Any) -> None:
    """Hook presence into Reflex's socket namespace (no public hook exists for connect/disconnect)."""
    live.app = app
    socket_writer.install()
    metrics.source(metrics.TABS, lambda: len(live.tabs))
    namespace = app.event_namespace
    if namespace is None or getattr(namespace, "_cardsort_hooked", False):
        return
    original_link = namespace.link_token_to_sid
    original_disconnect = namespace.on_disconnect

    async def link_token_to_sid(sid: str, token: str, **kwargs: Any) -> Any:
        result = await original_link(sid, token, **kwargs)
        live.on_socket_connect(token, sid)
        return result

    def on_disconnect(sid: str) -> Any:
        token = namespace.sid_to_token.get(sid)
        if token:
            live.on_socket_disconnect(token, sid)
        return original_disconnect(sid)

    namespace.link_token_to_sid = link_token_to_sid
    namespace.on_disconnect = on_disconnect
    namespace._cardsort_hooked = True
    get_runtime().feed.on_presence(live.on_presence)
    live.hears_presence = True
