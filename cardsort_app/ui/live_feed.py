"""What every tab of a session shows (the participants panel, the reveals), computed once per change.

One `SessionFeed` per session with tabs in this process. On a change it rebuilds the session's rows once,
compares them with the rows it last sent and emits only the changed ones, as one Socket.IO frame to a room
holding every socket of the session: python-socketio encodes that frame once, whatever the number of
tabs, and a change sends each tab the changed row(s), not the list. A tab's own Reflex state keeps only
what is its own (its piles, its step); a new or reconnected tab gets the whole list once, as `snapshot()`.

Ordering: every row carries a stamp (`w` this process, `ps` a counter that grows with every computation
here, `seq` the log position of the projection it was computed from). Frames of one session leave in the
order they were computed, and the browser keeps a row only if its stamp is newer than the one it shows
(`cardsort_live.jsx`), so a later push never carries an older value, even across a reconnect to
another worker.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from cardsort_app.domain.state import SessionState

log = logging.getLogger(__name__)

#: The Socket.IO event name of a live frame (the browser side listens for it, see cardsort_live.jsx).
LIVE_EVENT = "cardsort_live"
#: This process, for the stamps: counters of different workers are not comparable.
WORKER = ""
_STAMPS = itertools.count(1)


def _new_process() -> None:
    """A stamp source of this process's own. Granian forks its workers after the app is imported, so an
    id made at import would be shared by every worker and their counters compared as if they were one
    (a reconnected tab could then keep another worker's older row)."""
    global WORKER, _STAMPS  # noqa: PLW0603 - per-process identity, reset in a forked child
    WORKER = uuid.uuid4().hex[:8]
    _STAMPS = itertools.count(1)


_new_process()
os.register_at_fork(after_in_child=_new_process)

#: Rows built from (projection, who is online, only): `only` None asks for every row; a set of participant
#: ids asks for just their rows.
Rows = Callable[[SessionState, set[str], Collection[str] | None], list[dict[str, Any]]]
Reveals = Callable[[SessionState], list[dict[str, Any]]]
Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
#: Puts a frame in the room's sockets' send queues without yielding to the loop; False when it cannot.
EmitNow = Callable[[str, dict[str, Any]], bool]
#: Extra keyed lists of an audience's feed, one row per participant: name -> rows; each row has an "id"
#: (a participant id: its place in the join order orders it).
Lists = dict[str, Rows]


@dataclass(frozen=True)
class Window:
    """A list that shows only its newest `size` rows (the dashboard's event log). `build(state, after)`
    returns the rows whose int "id" is above `after`, oldest first, each placed by its own "n"; `after`
    0 asks for every row it still has (they are compared with what was sent: a renamed participant). A
    row pushed out by newer ones leaves as a tombstone in that frame and is forgotten: nothing grows
    with the session's length."""

    build: Callable[[SessionState, int], list[dict[str, Any]]]
    size: int


Windows = dict[str, Window]

#: The facilitator's feed: real names, everyone's piles and selections. Its room holds only the sockets
#: of dashboards that proved the facilitator key (ui/live.py), never a participant's board.
FACILITATOR = "facilitator"


def room(key: str) -> str:
    return f"cardsort:{key}"


def feed_key(code: str, audience: str = "") -> str:
    """The name of an audience's feed of `code`: its frames' `code` (the browser's store) and its room."""
    return f"{code}/{audience}" if audience else code


class SessionFeed:
    """The shared rows of one session in this process, and the frames that carry their changes."""

    def __init__(
        self,
        code: str,
        state: Callable[[], SessionState | None],
        online: Callable[[], set[str]],
        rows: Rows,
        reveals: Reveals,
        emit: Emit,
        on_sent: Callable[[float], None] | None = None,
        *,
        audience: str = "",
        lists: Lists | None = None,
        windows: Windows | None = None,
        emit_now: EmitNow | None = None,
    ) -> None:
        self.code = code
        self.key = feed_key(code, audience)  # the frames' `code` and the room's name
        self._state, self._online, self._rows, self._reveals = state, online, rows, reveals
        self._emit, self._emit_now, self._on_sent = emit, emit_now, on_sent
        # key -> (the row as built, the stamped row sent); a removed row stays as a stamped tombstone
        self._people: dict[str, _Sent] = {}
        self._shown: dict[str, _Sent] = {}
        self._lists = lists or {}
        self._windows = windows or {}
        self._extra: dict[str, dict[Any, _Sent]] = {name: {} for name in (*self._lists, *self._windows)}
        self._newest: dict[str, int] = {}  # a window's highest key sent
        # What the last computation was built from: the next one rebuilds only the participants changed since
        self._built: SessionState | None = None
        self._built_online: set[str] = set()
        self._order: dict[str, int] = {}
        self._seq = self._ps = 0
        self._dirty = False
        self._marked_at: float | None = None
        self._frames: deque[tuple[dict[str, Any], float | None]] = deque()
        self._task: asyncio.Task | None = None

    # --- changes ------------------------------------------------------------------------------------------
    def mark(self, timed: bool = False, coalesce: float = 0.0) -> None:
        """Something shown to everyone may have changed: recompute and send once, soon (bursts coalesce).
        `timed`: an appended event, timed until its frame is sent (`on_sent`). `coalesce`: wait that many
        seconds first, so a storm (200 tabs joining, coming and going) costs a few frames, not one per
        change: each frame costs every socket of the room a write."""
        self._dirty = True
        if timed and self._marked_at is None:
            self._marked_at = time.perf_counter()
        self._ensure_sender(coalesce)

    def push_now(self) -> None:
        """An event was just applied: compute its frame and hand it to the sockets right away, before
        the loop runs anything else (the actor's own delta, other tabs' pushes). Falls back to `mark`
        when frames are still queued (they must leave first) or the sockets cannot be reached directly."""
        if self._frames or self._emit_now is None:
            self.mark(timed=True)
            return
        marked_at = self._marked_at if self._marked_at is not None else time.perf_counter()
        self._marked_at, self._dirty = None, False
        frame = self._diff()
        if frame is None:
            return
        if self._emit_now(room(self.key), frame):
            if self._on_sent is not None:
                self._on_sent(time.perf_counter() - marked_at)
            return
        self._frames.append((frame, marked_at))
        self._ensure_sender()

    def refresh(self) -> None:
        """Recompute now (synchronously) and queue the frame of what changed, if anything."""
        marked_at, self._marked_at, self._dirty = self._marked_at, None, False
        frame = self._diff()
        if frame is not None:
            self._frames.append((frame, marked_at))
            self._ensure_sender()

    def snapshot(self) -> dict[str, Any]:
        """Every row, stamped, for a tab that (re)loads: up to date with the projection right now."""
        self.refresh()
        return {
            "code": self.key,
            "seq": self._seq,
            "ps": self._ps,
            "w": WORKER,
            "rows": [sent for *_, sent in self._people.values()],
            "reveals": [sent for *_, sent in self._shown.values()],
            **{name: [sent for *_, sent in last.values()] for name, last in self._extra.items()},
        }

    def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    # --- internals ----------------------------------------------------------------------------------------
    def _diff(self) -> dict[str, Any] | None:
        state = self._state()
        if state is None:
            return None
        stamp = {"seq": state.version, "ps": next(_STAMPS), "w": WORKER}
        self._seq, self._ps = state.version, stamp["ps"]
        online = self._online()
        only = self._changed_only(state, online)
        if only is None:
            self._order = {pid: i for i, pid in enumerate(state.participants)}
        self._built, self._built_online = state, set(online)
        order = self._order
        people = {row["id"]: (row, order.get(row["id"], 0)) for row in self._rows(state, online, only)}
        rows = _changes(self._people, people, "id", stamp, only)
        reveals = []
        if only is None:  # the reveals are the same object when none changed (the reducer keeps it)
            shown = {}
            for i, r in enumerate(self._reveals(state)):
                key = f"{r['participant_id']}:{r['reveal_type']}"
                shown[key] = ({**r, "key": key}, i)
            reveals = _changes(self._shown, shown, "key", stamp)
        extra = {}
        for name, build in self._lists.items():
            now = {row["id"]: (row, order.get(row["id"], 0)) for row in build(state, online, only)}
            if changed := _changes(self._extra[name], now, "id", stamp, only):
                extra[name] = changed
        for name, window in self._windows.items():
            if changed := self._slide(name, window, state, stamp, whole=only is None):
                extra[name] = changed
        if not rows and not reveals and not extra:
            return None
        return {"code": self.key, "rows": rows, "reveals": reveals, **extra}

    def _slide(
        self, name: str, window: Window, state: SessionState, stamp: dict[str, Any], whole: bool
    ) -> list[dict[str, Any]]:
        """A window's new (or, `whole`, changed) rows and the tombstones of those they push out."""
        last, out, unordered = self._extra[name], [], False
        for row in window.build(state, 0 if whole else self._newest.get(name, 0)):
            k, newest = row["id"], self._newest.get(name, 0)
            previous = last.get(k)
            if previous is None or (previous[0] is not row and previous[0] != row):
                sent = {**row, **stamp}
                last[k] = (row, row["n"], sent)
                out.append(sent)
                unordered = unordered or (previous is None and k < newest)
            self._newest[name] = max(newest, k)
        if unordered:  # older rows arrived late (a log read): keep the keys in order
            ordered = sorted(last.items())
            last.clear()
            last.update(ordered)
        while len(last) > window.size:  # keys in order: the first one is the oldest
            out.append({"id": (oldest := next(iter(last))), "gone": True, **stamp})
            del last[oldest]
        return out

    def _changed_only(self, state: SessionState, online: set[str]) -> set[str] | None:
        """The participants changed since the last computation when nothing else did (a step, a move: the
        reducer hands back every other participant's very object), else None: rebuild every row. A
        participant's rows depend on their own data, whether they are online, the reveals, the join order
        and the session's anonymity; a change of a name (an erasure) renames other rows too (anonymous
        numbering, reveals), so it rebuilds everything."""
        last = self._built
        if (
            last is None
            or last.code != state.code
            or state.reveals is not last.reveals
            or state.anonymous != last.anonymous
            or len(state.participants) != len(last.participants)
            or online != self._built_online
        ):
            return None
        before = last.participants
        changed = {pid for pid, p in state.participants.items() if before.get(pid) is not p}
        for pid in changed:
            old = before.get(pid)
            if old is None or old.name != state.participants[pid].name:
                return None  # new, or renamed (an erasure): other rows may show the name (reveals)
        return changed

    def _ensure_sender(self, delay: float = 0.0) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send(delay))

    async def _send(self, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        while self._dirty or self._frames:
            if self._dirty:
                self.refresh()
            while self._frames:
                frame, marked_at = self._frames.popleft()
                try:
                    if self._emit_now is None or not self._emit_now(room(self.key), frame):
                        await self._emit(room(self.key), frame)
                except Exception:
                    log.exception("live frame to %s failed", self.key)
                if marked_at is not None and self._on_sent is not None:
                    self._on_sent(time.perf_counter() - marked_at)


#: A row as built, its place (`n`), and the stamped row sent; a removed row: (None, None, tombstone).
_Sent = tuple[dict[str, Any] | None, int | None, dict[str, Any]]


def _changes(
    last: dict[str, _Sent],
    now: dict[str, tuple[dict[str, Any], int]],
    key: str,
    stamp: dict[str, Any],
    only: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows that differ from `last` (updated in place), stamped; rows gone become tombstones. A builder
    that hands back the very same row object for an unchanged participant costs no comparison. With
    `only`, `now` holds just those keys' rows: only those keys can be gone."""
    out: list[dict[str, Any]] = []
    for k, (row, n) in now.items():
        previous = last.get(k)
        if previous is None or previous[1] != n or (previous[0] is not row and previous[0] != row):
            sent = {**row, "n": n, **stamp}
            last[k] = (row, n, sent)
            out.append(sent)
    if only is not None:
        for k in only:
            if k not in now and (previous := last.get(k)) is not None and previous[0] is not None:
                sent = {key: k, "gone": True, **stamp}
                last[k] = (None, None, sent)
                out.append(sent)
        return out
    for k, (row, _, _) in list(last.items()):
        if row is not None and k not in now:
            sent = {key: k, "gone": True, **stamp}
            last[k] = (None, None, sent)
            out.append(sent)
    return out
