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
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from cardsort_app.domain.state import SessionState

log = logging.getLogger(__name__)

#: The Socket.IO event name of a live frame (the browser side listens for it, see cardsort_live.jsx).
LIVE_EVENT = "cardsort_live"
#: This process, for the stamps: counters of different workers are not comparable.
WORKER = uuid.uuid4().hex[:8]
_STAMPS = itertools.count(1)

Rows = Callable[[SessionState, set[str]], list[dict[str, Any]]]
Reveals = Callable[[SessionState], list[dict[str, Any]]]
Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


def room(code: str) -> str:
    return f"cardsort:{code}"


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
    ) -> None:
        self.code = code
        self._state, self._online, self._rows, self._reveals = state, online, rows, reveals
        self._emit, self._on_sent = emit, on_sent
        # key -> (the row as built, the stamped row sent); a removed row stays as a stamped tombstone
        self._people: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {}
        self._shown: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {}
        self._seq = self._ps = 0
        self._dirty = False
        self._marked_at: float | None = None
        self._frames: deque[tuple[dict[str, Any], float | None]] = deque()
        self._task: asyncio.Task | None = None

    # --- changes ------------------------------------------------------------------------------------------
    def mark(self, timed: bool = False) -> None:
        """Something shown to everyone may have changed: recompute and send once, soon (bursts coalesce).
        `timed`: an appended event, timed until its frame is sent (`on_sent`)."""
        self._dirty = True
        if timed and self._marked_at is None:
            self._marked_at = time.perf_counter()
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
            "code": self.code,
            "seq": self._seq,
            "ps": self._ps,
            "w": WORKER,
            "rows": [sent for _, sent in self._people.values()],
            "reveals": [sent for _, sent in self._shown.values()],
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
        order = {pid: i for i, pid in enumerate(state.participants)}
        people = {
            row["id"]: {**row, "n": order.get(row["id"], 0)} for row in self._rows(state, self._online())
        }
        shown = {}
        for i, r in enumerate(self._reveals(state)):
            key = f"{r['participant_id']}:{r['reveal_type']}"
            shown[key] = {**r, "key": key, "n": i}
        rows = _changes(self._people, people, "id", stamp)
        reveals = _changes(self._shown, shown, "key", stamp)
        if not rows and not reveals:
            return None
        return {"code": self.code, "rows": rows, "reveals": reveals}

    def _ensure_sender(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while self._dirty or self._frames:
            if self._dirty:
                self.refresh()
            while self._frames:
                frame, marked_at = self._frames.popleft()
                try:
                    await self._emit(room(self.code), frame)
                except Exception:
                    log.exception("live frame to %s failed", self.code)
                if marked_at is not None and self._on_sent is not None:
                    self._on_sent(time.perf_counter() - marked_at)


def _changes(
    last: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]],
    now: dict[str, dict[str, Any]],
    key: str,
    stamp: dict[str, Any],
) -> list[dict[str, Any]]:
    """Rows that differ from `last` (updated in place), stamped; rows gone become tombstones."""
    out: list[dict[str, Any]] = []
    for k, row in now.items():
        previous = last.get(k)
        if previous is None or previous[0] != row:
            sent = {**row, **stamp}
            last[k] = (row, sent)
            out.append(sent)
    for k, (row, _) in list(last.items()):
        if row is not None and k not in now:
            sent = {key: k, "gone": True, **stamp}
            last[k] = (None, sent)
            out.append(sent)
    return out
