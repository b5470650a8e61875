"""A headless browser tab that speaks the app's Reflex websocket protocol (as `.web/utils/state.js` does).

Used by the websocket load benchmark (benchmarks/ws_load.py) and the crash test (tests/crash/). The
protocol, as the built frontend speaks it:

* Engine.IO v4 over a plain websocket, `/_event/?EIO=4&transport=websocket&token=<tab token>`, the
  Reflex version as subprotocol; the server pings (`2`) every REFLEX_SOCKET_INTERVAL, the tab answers `3`.
* Socket.IO namespace `/_event`. The CONNECT packet carries the boot event as its auth payload:
  `40/_event,{"event": {"name": "<root state>.hydrate_and_load", "payload": {"vars": {<client storage>}},
  "router_data": {"pathname", "asPath", "query"}}}` (the frontend adds its state-schema hash, left out here:
  the server then skips that check). The server answers `40/_event,{"sid"}`, sends the full
  state, runs the page's on_load (BoardState.load) itself and sends what it changed.
* Every other event is `42/_event,["event", {"name": "<full state path>.<handler>", "payload": {arg: value},
  "router_data": ...}]`; every change comes back as `42/_event,["event", {"delta": {<full state path>:
  {"<var>_rx_state_": value}}, "events": [...]}]`, a var replaced whole. A delta carrying the
  `cardsort_identities` localStorage var is stored by the tab, as the frontend's applyClientStorageDelta
  does.

A tab joins through the board's own form events (`set_join_name`, `join`), stores the identity the join
delta sets, then reloads: a new socket (same token: sessionStorage survives a reload) whose hydrate carries
the identity, so BoardState.load resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import reflex as rx
import websockets
from reflex_base.constants import Reflex
from reflex_base.constants.state import FIELD_MARKER
from reflex_base.utils.format import format_event_handler

from cardsort_app.ui.board_state import BoardState
from cardsort_app.ui.dashboard_state import DashboardState
from cardsort_app.ui.identity import IdentityState

# --- wire names, derived from the app's own state classes ------------------------------------------------
ROOT = rx.State.get_full_name()
IDENTITY = IdentityState.get_full_name()
BOARD = BoardState.get_full_name()
DASHBOARD = DashboardState.get_full_name()
HYDRATE = format_event_handler(rx.State.hydrate_and_load)
IDENTITIES = "identities" + FIELD_MARKER
IS_HYDRATED = "is_hydrated" + FIELD_MARKER
LOCAL_STORAGE_NAME = "cardsort_identities"  # IdentityState.identities' localStorage key
FACILITATOR_KEYS = "facilitator_keys" + FIELD_MARKER
KEYS_STORAGE_NAME = "cardsort_facilitator_keys"  # IdentityState.facilitator_keys' localStorage key
CONNECT = "40/_event,"  # Engine.IO message (4) + Socket.IO CONNECT (0), namespace /_event
EVENT = "42/_event,"  # ... + Socket.IO EVENT (2)
CONNECT_ERROR = "44/_event,"
DISCONNECT = "41/_event,"
LIVE = "cardsort_live"  # the session-wide frame of changed rows (cardsort_app/ui/live_feed.py)
LIVE_VAR = "live" + FIELD_MARKER  # BoardState.live / DashboardState.live: the whole list, on (re)load


def var(name: str) -> str:
    return name + FIELD_MARKER


class TabClosed(Exception):
    pass


Delta = dict[str, dict[str, Any]]


@dataclass
class Tab:
    """One browser tab: a token (sessionStorage), localStorage, one websocket, a mirror of its state."""

    ws_base: str
    name: str
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    local_storage: dict[str, str] = field(default_factory=dict)
    vars: Delta = field(default_factory=dict)
    frames: list[tuple[float, str]] = field(default_factory=list)  # received while lazy, not parsed yet
    lazy: bool = False  # in a measured round: keep raw frames, parse them after the round's timestamps
    path: str = ""
    router_data: dict[str, Any] = field(default_factory=dict)
    watch: str | None = None  # a round waits for a frame containing this
    on_watch: Callable[[Tab], None] | None = None
    received: int = 0  # event frames
    received_bytes: int = 0
    pid: str = ""
    ws: Any = None
    reader: asyncio.Task | None = None
    closed: bool = True
    closing: bool = False  # closed by this tab (a reload), not dropped by the server
    drops: list[str] = field(default_factory=list)
    live: dict[str, dict[str, Any]] = field(default_factory=dict)  # the participants rows it shows, by id
    last_live: dict[str, Any] | None = None  # the newest live frame
    room: str = ""  # a query parameter for a plain Socket.IO server (the benchmark's floor)

    def __post_init__(self) -> None:
        self.arrived = asyncio.Event()
        self.connected = asyncio.Event()

    # --- transport --------------------------------------------------------------------------------------
    async def open(self, path: str, query: dict[str, str], timeout: float) -> None:
        """Load `path`: connect, hydrate with the client storage; the server runs the page's on_load."""
        search = "&".join(f"{k}={v}" for k, v in query.items() if k != "code")
        self.path = path
        self.router_data = {
            "pathname": path,
            "asPath": path + (f"?{search}" if search else ""),
            "query": query,
        }
        payload = {}
        stored_vars = {}
        if LOCAL_STORAGE_NAME in self.local_storage:
            stored_vars[f"{IDENTITY}.{IDENTITIES}"] = self.local_storage[LOCAL_STORAGE_NAME]
        if KEYS_STORAGE_NAME in self.local_storage:
            stored_vars[f"{IDENTITY}.{FACILITATOR_KEYS}"] = self.local_storage[KEYS_STORAGE_NAME]
        if stored_vars:
            payload["vars"] = stored_vars
        boot = {"name": HYDRATE, "payload": payload, "router_data": self.router_data}
        self.vars, self.frames, self.closed, self.closing = {}, [], False, False
        self.live = {}  # a page load starts the browser's row store afresh
        self.connected.clear()
        self.ws = await websockets.connect(
            f"{self.ws_base}/_event/?EIO=4&transport=websocket&token={self.token}"
            + (f"&room={self.room}" if self.room else ""),
            subprotocols=[Reflex.VERSION],
            max_size=2**24,
            ping_interval=None,  # Engine.IO pings come from the server
            open_timeout=timeout,
            close_timeout=2,
        )
        opened = await asyncio.wait_for(self.ws.recv(), timeout)
        if not opened.startswith("0"):
            raise RuntimeError(f"{self.name}: unexpected Engine.IO open packet {opened[:80]!r}")
        await self.ws.send(CONNECT + json.dumps({"event": boot}, separators=(",", ":")))
        self.reader = asyncio.get_running_loop().create_task(self._read())
        await asyncio.wait_for(self.connected.wait(), timeout)
        if self.closed:
            raise TabClosed(f"{self.name}: connect refused ({self.drops[-1:]})")

    async def _read(self) -> None:
        reason = "closed"
        try:
            async for raw in self.ws:
                at = time.perf_counter()
                if raw == "2":  # Engine.IO ping
                    await self.ws.send("3")
                elif raw.startswith(EVENT):
                    self.received += 1
                    self.received_bytes += len(raw)
                    if self.lazy:
                        self.frames.append((at, raw))
                        if self.watch is not None and self.on_watch is not None and self.watch in raw:
                            self.on_watch(self)
                    else:  # parse as it comes, as a browser does, so a burst never piles up here
                        self.parse(raw)
                    self.arrived.set()
                elif raw.startswith(CONNECT):
                    self.connected.set()
                elif raw.startswith((CONNECT_ERROR, DISCONNECT)):
                    reason = f"server sent {raw[:100]!r}"
                    break
                elif raw == "1":  # Engine.IO close (a ping timeout on the server's side)
                    reason = "Engine.IO close"
        except websockets.ConnectionClosed as exc:
            reason = f"{reason}: {exc}"
        finally:
            if not self.closing:
                self.drops.append(reason)
            self.closed = True
            self.connected.set()
            self.arrived.set()
            if self.on_watch is not None:
                self.on_watch(self)

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.send(DISCONNECT)
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.reader, 5)
        self.ws = self.reader = None

    async def send(self, cls: type[rx.State], name: str, **payload: Any) -> float:
        event = {
            "name": format_event_handler(getattr(cls, name)),
            "payload": payload,
            "router_data": self.router_data,
        }
        message = EVENT + json.dumps(["event", event], separators=(",", ":"))
        sent = time.perf_counter()
        await self.ws.send(message)
        return sent

    # --- state mirror -----------------------------------------------------------------------------------
    def parse(self, raw: str) -> Delta | None:
        """Apply one frame to the mirror (and the client storage), as the frontend's socket handler."""
        name, *args = json.loads(raw[len(EVENT) :])
        if name == "new_token":  # the server found the token in use and handed out another
            self.token = args[0]
        if name == LIVE:
            self.last_live = args[0]
            merge_rows(self.live, args[0].get("rows") or ())
            return {LIVE: args[0]}
        if name != "event":
            return None
        delta = args[0].get("delta") or {}
        for state, values in delta.items():
            self.vars.setdefault(state, {}).update(values)
        snapshot = _snapshot_in(delta)
        if snapshot:
            merge_rows(self.live, snapshot.get("rows") or ())
        keys = delta.get(IDENTITY, {}).get(FACILITATOR_KEYS)
        if keys is not None and delta.get(ROOT, {}).get(IS_HYDRATED) is not False:
            self.local_storage[KEYS_STORAGE_NAME] = keys
        stored = delta.get(IDENTITY, {}).get(IDENTITIES)
        if stored is not None and delta.get(ROOT, {}).get(IS_HYDRATED) is not False:
            self.local_storage[LOCAL_STORAGE_NAME] = stored
        return delta

    def drain(self) -> list[tuple[float, Delta]]:
        """Parse the frames kept while lazy; returns (received at, delta) for each."""
        frames, self.frames = self.frames, []
        return [(at, delta) for at, raw in frames if (delta := self.parse(raw)) is not None]

    def get(self, state: str, name: str, default: Any = None) -> Any:
        return self.vars.get(state, {}).get(var(name), default)

    async def until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            if check():
                return
            if self.closed:
                raise TabClosed(f"{self.name}: socket closed while waiting for {what} ({self.drops[-1:]})")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no {what} within {timeout:.0f} s")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)


# --- the shared rows, as cardsort_live.jsx keeps them ------------------------------------------------------
def newer(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    if b is None:
        return True
    return a["ps"] >= b["ps"] if a.get("w") == b.get("w") else a["seq"] >= b["seq"]


def merge_rows(into: dict[str, dict[str, Any]], rows: Any) -> None:
    """As the browser's mergeRows: newer stamps win; a lagging worker's row only brings its presence."""
    for row in rows:
        shown = into.get(row["id"])
        if newer(row, shown):
            into[row["id"]] = row
        elif (
            row.get("w") != shown.get("w")
            and not row.get("gone")
            and not shown.get("gone")
            and row.get("online") != shown.get("online")
        ):
            into[row["id"]] = {**shown, "online": row.get("online")}


def shown_rows(tab: Tab) -> list[dict[str, Any]]:
    """The participants panel as the tab shows it (its snapshot merged with the live frames)."""
    return sorted((r for r in tab.live.values() if not r.get("gone")), key=lambda r: r["n"])


def live_rows_in(delta: Delta) -> list[dict[str, Any]]:
    """The participants rows a frame carries: a live frame's changed rows or a (re)load's whole list."""
    if LIVE in delta:
        return delta[LIVE].get("rows") or []
    return (_snapshot_in(delta) or {}).get("rows") or []


def _snapshot_in(delta: Delta) -> dict[str, Any] | None:
    """A (re)load's whole list: the board's participants feed or the dashboard's facilitator feed."""
    return delta.get(BOARD, {}).get(LIVE_VAR) or delta.get(DASHBOARD, {}).get(LIVE_VAR)


# --- pages -------------------------------------------------------------------------------------------------
def row_of(rows: Any, pid: str) -> dict[str, Any] | None:
    for row in rows or ():
        if row.get("id") == pid:
            return row
    return None


def board_ready(tab: Tab) -> bool:
    return tab.get(BOARD, "status") == "ready" and tab.get(BOARD, "me") == tab.pid


async def load_board(tab: Tab, code: str, timeout: float) -> None:
    """Open (or reload) the board with the identity in localStorage; on_load resumes the participant."""
    await tab.open(f"/s/{code}", {"code": code}, timeout)
    tab.pid = json.loads(tab.local_storage[LOCAL_STORAGE_NAME])[code]["pid"]
    await tab.until(lambda: board_ready(tab), timeout, "the board resumed with the stored identity")


async def join_board(tab: Tab, code: str, timeout: float) -> None:
    """Join through the board's form, keep the identity the delta stores, then reload the tab."""
    await tab.open(f"/s/{code}", {"code": code}, timeout)
    await tab.until(lambda: tab.get(BOARD, "status") == "join", timeout, "the join form")
    # What the browser's join form sends (ui/cardsort_join.jsx): the name and a token of its own.
    await tab.send(BoardState, "join", _form={"code": code, "name": tab.name, "token": uuid.uuid4().hex})
    stored = lambda: code in json.loads(tab.local_storage.get(LOCAL_STORAGE_NAME, "{}"))  # noqa: E731
    await tab.until(stored, timeout, "the identity in localStorage")
    await tab.close()
    await load_board(tab, code, timeout)


async def open_dashboard(tab: Tab, code: str, key: str, timeout: float) -> None:
    """Open the dashboard with the key in the address; the page stores it and redirects to the address
    without it, which this tab follows as the browser does (a new load with the stored key)."""
    if code not in json.loads(tab.local_storage.get(KEYS_STORAGE_NAME, "{}")):
        await tab.open(f"/s/{code}/facilitate", {"code": code, "key": key}, timeout)
        stored = lambda: code in json.loads(tab.local_storage.get(KEYS_STORAGE_NAME, "{}"))  # noqa: E731
        await tab.until(stored, timeout, "the facilitator key in localStorage")
        await tab.close()
    await tab.open(f"/s/{code}/facilitate", {"code": code}, timeout)
    await tab.until(lambda: tab.get(DASHBOARD, "status") == "ready", timeout, "the dashboard")


# --- the board's change queue (cardsort_offline.jsx sends these to BoardState.send_changes) ------------
def move_change(card: str, from_pile: str, to_pile: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "kind": "move", "cardId": card, "fromPile": from_pile, "toPile": to_pile}


def step_change(from_step: int, to_step: int) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "kind": "step", "fromStep": from_step, "toStep": to_step}


async def send_changes(tab: Tab, *changes: dict[str, Any], batch: str | None = None) -> float:
    """Send queued changes as the board does; the answer arrives in the `acks` var under `batch`."""
    payload = {"batch": batch or str(uuid.uuid4()), "changes": list(changes)}
    return await tab.send(BoardState, "send_changes", batch=payload)
