"""Live fan-out under load: headless clients that speak Reflex's websocket protocol, beside a floor.

    python -m benchmarks.ws_load [--clients 30] [--sessions 1] [--rounds 100] [--action step|move|both]
                                 [--workers 1] [--no-floor] [--linger S] [--quick] [--url URL]

Starts the app the way `make run` does (unless --url is given; `--workers 2+` runs the scale-out deployment:
PostgreSQL, Redis, the local Ably server), creates `--sessions` sessions through `POST /api/sessions` and
opens `--clients` participant tabs plus `--dashboards` facilitator tabs in each. Each tab is a headless tab
speaking the built frontend's websocket protocol (tests/support/reflex_ws.py, where the protocol is
described), mirroring the Reflex deltas and the session-wide `cardsort_live` frames as the browser merges
them. A tab the server drops is reopened, as the frontend reconnects, and counted.

Measured, one action at a time (a few "actor" tabs take turns; `--gap-ms` between rounds; with several
sessions one actor in every session acts at once):

* step: the actor sends a step change from the step it shows (`send_changes`, as the board's change
  queue does; toggling 1 <-> 2); every
  other participant tab timestamps the live frame that shows the actor's new step (the row rendered with
  `data-step`); dashboards timestamp the actor's row.
* move: the actor moves a card between two piles; dashboards timestamp the actor's pile counts (a board
  shows no one else's piles, so the other participant tabs should get nothing).
* the floor (unless --no-floor): after every step round, a plain python-socketio server
  (benchmarks/sio_floor.py) relays the frame the app sent in that round to the same number of sockets,
  timed the same way; the report prints the app's p50 as a ratio of the floor's.

Latency = frame received - event sent, both in this process (perf_counter). A frame is timestamped when
the socket hands it over and parsed only once every watched tab of the round holds one, so decoding never
delays another tab's timestamp. Also printed: CPU per change (app and floor process groups), bytes per
receiving tab per change, the join time (join + reload), sockets dropped, the app's resident memory before,
with and `--linger` seconds after the tabs, and the app's `/metrics`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.reflex_ws import (
    BOARD,
    DASHBOARD,
    EVENT,
    LIVE,
    Delta,
    Tab,
    board_ready,
    join_board,
    live_rows_in,
    load_board,
    move_change,
    open_dashboard,
    row_of,
    send_changes,
    shown_rows,
    step_change,
    var,
)


@dataclass
class Fleet:
    code: str
    key: str
    boards: list[Tab]
    dashboards: list[Tab]
    timeout: float

    @property
    def tabs(self) -> list[Tab]:
        return self.boards + self.dashboards

    async def revive(self) -> None:
        """Reopen the tabs the server dropped, as the frontend reconnects (hydrate + on_load again)."""
        for tab in [t for t in self.tabs if t.closed]:
            await tab.close()
            if tab.path.endswith("/facilitate"):
                await open_dashboard(tab, self.code, self.key, self.timeout)
            else:
                await load_board(tab, self.code, self.timeout)

    async def until_all(self, check: Callable[[Tab], bool], tabs: list[Tab], what: str) -> None:
        deadline = time.monotonic() + self.timeout * 4
        while True:
            await self.revive()
            for tab in tabs:
                tab.drain()
            if all(check(t) for t in tabs):
                return
            if time.monotonic() > deadline:
                late = [t for t in tabs if not check(t)]
                seen = [
                    f"{t.name} (worker {t.get(BOARD, 'worker') or t.get(DASHBOARD, 'worker')}: "
                    f"{len(shown_rows(t))} rows, offline "
                    f"{[r.get('name') for r in shown_rows(t) if r.get('online') != 'true'][:4]})"
                    for t in late[:3]
                ]
                raise TimeoutError(f"{len(late)} tabs never showed {what}: {seen}")
            await asyncio.sleep(0.1)

    async def settle(self, quiet: float) -> None:
        """Wait until no tab received anything for `quiet` seconds (bounded), then parse everything."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            before = sum(t.received for t in self.tabs)
            await asyncio.sleep(quiet)
            if sum(t.received for t in self.tabs) == before:
                break
        for t in self.tabs:
            t.drain()


def unsorted_left(tab: Tab, pid: str) -> int | None:
    """How many cards `pid` still has unsorted, as `tab` shows it (a dashboard or the participant's board)."""
    if tab.path.endswith("/facilitate"):
        return (row_of(shown_rows(tab), pid) or {}).get("counts", {}).get("unsorted")
    return len(tab.get(BOARD, "piles", {}).get("unsorted", []))


async def sort_all(actor: Tab, fleet: Fleet) -> None:
    """Step 1 for an actor: every unsorted card into one of the three piles, one move at a time (the next
    once a dashboard shows the last, so set-up never floods the server)."""
    targets = ("very-important", "important", "not-important")
    watcher = fleet.dashboards[0] if fleet.dashboards else actor
    actor.drain()
    cards = [c["id"] for c in actor.get(BOARD, "piles", {}).get("unsorted", [])]
    for i, card in enumerate(cards):
        await send_changes(actor, move_change(card, "unsorted", targets[i % 3]))
        left = len(cards) - i - 1
        await watcher.until(
            lambda left=left: unsorted_left(watcher, actor.pid) == left, fleet.timeout, f"{actor.name}'s move"
        )
    await actor.until(
        lambda: not actor.get(BOARD, "piles", {}).get("unsorted"), fleet.timeout, "sorted piles"
    )


# --- one measured round -------------------------------------------------------------------------------------
@dataclass
class Watch:
    """What one tab waits for in a round: for each series, the first frame that passes its check."""

    tab: Tab
    substring: str  # every frame that can pass a check contains this (a filter before parsing)
    checks: dict[str, Callable[[Delta], bool]]
    found: dict[str, float] = field(default_factory=dict)


async def run_round(
    send: Callable[[], Awaitable[float]], watches: list[Watch], timeout: float
) -> tuple[dict[str, list[float]], int]:
    """Send, wait until every watched tab holds a candidate frame, then parse and timestamp.

    Returns latencies (ms) by series and how many checks no frame passed within `timeout`."""
    pending: set[int] = set()
    all_in = asyncio.Event()

    def on_watch(tab: Tab) -> None:
        if id(tab) in pending:
            pending.discard(id(tab))
            if not pending:
                all_in.set()

    for w in watches:
        w.tab.drain()
        w.tab.watch, w.tab.on_watch, w.tab.lazy = w.substring, on_watch, True
    pending.update(id(w.tab) for w in watches)
    deadline = time.monotonic() + timeout
    try:
        sent = await send()
        waiting = list(watches)
        while waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), max(0.0, deadline - time.monotonic()))
            all_in.clear()
            pending.update(id(w.tab) for w in waiting)  # re-armed before parsing: nothing slips through
            still = []
            for w in waiting:
                for at, delta in w.tab.drain():
                    for series, check in w.checks.items():
                        if series not in w.found and at >= sent and check(delta):
                            w.found[series] = at
                if len(w.found) == len(w.checks) or w.tab.closed:
                    pending.discard(id(w.tab))
                else:
                    still.append(w)
            waiting = still
            if time.monotonic() >= deadline:
                break
            if waiting and not pending:
                all_in.set()
    finally:
        for w in watches:
            w.tab.drain()
            w.tab.watch, w.tab.on_watch, w.tab.lazy = None, None, False
    out: dict[str, list[float]] = {}
    missed = 0
    for w in watches:
        for series in w.checks:
            if series in w.found:
                out.setdefault(series, []).append((w.found[series] - sent) * 1000)
            else:
                missed += 1
    return out, missed


STEP_OTHERS = "step: other participants"
STEP_DASHBOARDS = "step: dashboards"
STEP_ACTING = "step: acting tab, acknowledged (ref)"
STEP_CONFIRMED = "step: acting tab, confirmed"
MOVE_DASHBOARDS = "move: dashboards"
MOVE_ACTING = "move: acting tab, acknowledged (ref)"
REFERENCE = {STEP_OTHERS: STEP_ACTING, STEP_DASHBOARDS: STEP_ACTING, STEP_CONFIRMED: STEP_ACTING}
REFERENCE |= {STEP_ACTING: STEP_ACTING, MOVE_DASHBOARDS: MOVE_ACTING, MOVE_ACTING: MOVE_ACTING}
REFERENCE[STEP_OTHERS] = "floor: same frame, python-socketio (ref)"


def step_round(actor: Tab, fleet: Fleet) -> tuple[list[Watch], Callable[[], Awaitable[float]]]:
    shown = actor.get(BOARD, "step")
    forward = shown == 1
    expected = 2 if forward else 1
    pid = actor.pid

    def participants_show(delta: Delta) -> bool:
        return (row_of(live_rows_in(delta), pid) or {}).get("step") == expected

    def row_shows(delta: Delta) -> bool:  # the dashboards' rows come as frames of the facilitator feed
        return (row_of(live_rows_in(delta), pid) or {}).get("step") == expected

    def own_step(delta: Delta) -> bool:
        return delta.get(BOARD, {}).get(var("step")) == expected

    others = [t for t in fleet.boards if t is not actor]
    watches = [Watch(t, f'"{LIVE}"', {STEP_OTHERS: participants_show}) for t in others]
    watches += [Watch(t, f'"{LIVE}"', {STEP_DASHBOARDS: row_shows}) for t in fleet.dashboards]
    watches.append(Watch(actor, "", {STEP_ACTING: own_step, STEP_CONFIRMED: participants_show}))

    async def send() -> float:
        return await send_changes(actor, step_change(shown, expected))

    return watches, send


def move_round(actor: Tab, fleet: Fleet) -> tuple[list[Watch], Callable[[], Awaitable[float]]]:
    piles = actor.get(BOARD, "piles")
    vi, im = piles.get("very-important", []), piles.get("important", [])
    src, dst = ("very-important", "important") if len(vi) >= len(im) else ("important", "very-important")
    card = piles[src][0]["id"]
    expected = len(piles[dst]) + 1
    pid = actor.pid

    def counts_show(delta: Delta) -> bool:
        row = row_of(live_rows_in(delta), pid) or {}
        return row.get("counts", {}).get(dst) == expected

    def own_move(delta: Delta) -> bool:
        mine = delta.get(BOARD, {}).get(var("piles"))
        return mine is not None and any(c["id"] == card for c in mine.get(dst, []))

    watches = [Watch(t, f'"{LIVE}"', {MOVE_DASHBOARDS: counts_show}) for t in fleet.dashboards]
    watches.append(Watch(actor, f'"{var("piles")}"', {MOVE_ACTING: own_move}))

    async def send() -> float:
        return await send_changes(actor, move_change(card, src, dst))

    return watches, send


# --- the floor: python-socketio relaying the same frames to the same number of sockets ---------------------
FLOOR_OTHERS = "floor: same frame, python-socketio (ref)"


class Floor:
    """`benchmarks.sio_floor` under granian in its own process group, on a free loopback port."""

    def __init__(self, log_path: Path) -> None:
        from tests.support.app_server import ROOT, free_port

        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        granian = Path(sys.executable).parent / "granian"
        self.proc = subprocess.Popen(
            [
                str(granian),
                "--interface",
                "asgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--log-level",
                "warning",
                "benchmarks.sio_floor:app",
            ],
            cwd=ROOT,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                break
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the python-socketio floor did not start; see {log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=10)


def floor_round(actor: Tab, others: list[Tab], frame: dict[str, Any]) -> tuple[list[Watch], Callable]:
    watches = [Watch(t, f'"{LIVE}"', {FLOOR_OTHERS: lambda d: LIVE in d}) for t in others]

    async def send() -> float:
        message = EVENT + json.dumps(["relay", frame], separators=(",", ":"))
        sent = time.perf_counter()
        await actor.ws.send(message)
        return sent

    return watches, send


# --- the benchmark ----------------------------------------------------------------------------------------
@dataclass
class ActionStats:
    rounds: int = 0
    seconds: float = 0.0
    board_frames: int = 0  # received by the participant tabs that never act
    board_bytes: int = 0
    quiet_tabs: int = 0
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None
    floor_bytes: int = 0
    floor_cpu_s: float | None = None


@dataclass
class Results:
    series: dict[str, list[float]] = field(default_factory=dict)
    actions: dict[str, ActionStats] = field(default_factory=dict)
    missed: int = 0
    dropped_setup: int = 0
    dropped_rounds: int = 0
    drop_reasons: list[str] = field(default_factory=list)
    ghost_deltas: int | None = None
    setup_s: float = 0.0
    join_s: float = 0.0
    join_errors: list[str] = field(default_factory=list)
    tabs: int = 0
    workers: dict[str, int] = field(default_factory=dict)  # backend process -> participant tabs it serves
    rss_idle: float | None = None  # MiB of the app's processes before any tab
    rss_tabs: float | None = None  # ... with every tab open
    rss_closed: float | None = None  # ... after they closed, --linger seconds later
    metrics: list[str] = field(default_factory=list)  # the app's /metrics after the rounds (no buckets)

    def add(self, got: dict[str, list[float]]) -> None:
        for name, values in got.items():
            self.series.setdefault(name, []).extend(values)


def _group(pgid: int | None) -> list[list[str]]:
    """The /proc/<pid>/stat fields (after the command name) of every process in the process group."""
    out: list[list[str]] = []
    if pgid is None:
        return out
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                out.append(fields)
    return out


def server_cpu(pgid: int | None) -> float | None:
    """CPU seconds (user + system) of the processes in the app's process group (Linux /proc)."""
    if pgid is None:
        return None
    return sum(int(f[11]) + int(f[12]) for f in _group(pgid)) / os.sysconf("SC_CLK_TCK")


def server_rss(pgid: int | None) -> float | None:
    """Resident MiB of the process group's Python processes (the frontend build tools excluded)."""
    if pgid is None:
        return None
    return sum(int(f[21]) for f in _group(pgid)) * os.sysconf("SC_PAGE_SIZE") / 2**20


GHOST = "Attempting to send delta to disconnected client"  # Reflex's warning in EventNamespace.emit_update


#: Every tab of a benchmark comes from one loopback address, so the per-client limits (README: Limits),
#: meant for people, would refuse the load generator itself: the app it starts raises them.
LOAD_GENERATOR_LIMITS = {
    "CARDSORT_CREATES_PER_CLIENT_PER_MINUTE": "100000",
    "CARDSORT_CREATES_PER_MINUTE": "100000",
    "CARDSORT_JOINS_PER_CLIENT_PER_MINUTE": "100000",
    "CARDSORT_MAX_OPEN_SESSIONS": "100000",
}


def progress(what: str, since: float) -> None:
    print(f"[{time.monotonic() - since:6.1f} s] {what}", file=sys.stderr, flush=True)


async def bench(
    url: str, args: argparse.Namespace, app_pgid: int | None, app_log: Path | None, floor: Floor | None
) -> Results:
    res = Results()
    ws_base = url.replace("http://", "ws://", 1).rstrip("/")
    started = time.monotonic()
    fleets: list[Fleet] = []
    async with httpx.AsyncClient(base_url=url, timeout=args.timeout) as api:
        for s in range(args.sessions):
            r = await api.post("/api/sessions", json={"title": f"ws load {s}", "deck": args.deck})
            r.raise_for_status()
            created = r.json()
            fleets.append(
                Fleet(
                    created["code"],
                    created["facilitatorKey"],
                    [Tab(ws_base, f"S{s}P{i:03d}") for i in range(args.clients)],
                    [Tab(ws_base, f"S{s}F{i}") for i in range(args.dashboards)],
                    args.timeout,
                )
            )
    gate = asyncio.Semaphore(args.connect_concurrency)
    all_tabs = [t for f in fleets for t in f.tabs]
    floor_tabs: dict[int, Tab] = {}  # id(app tab) -> its twin on the floor server

    async def gated(coro: Awaitable[None]) -> None:
        async with gate:
            await coro

    async def joined(tab: Tab, code: str) -> None:
        try:
            await gated(join_board(tab, code, args.timeout))
        except Exception as exc:  # counted, then retried once the storm is over
            res.join_errors.append(f"{tab.name}: {type(exc).__name__}: {exc}")

    try:
        res.rss_idle = server_rss(app_pgid)
        clock = time.monotonic()
        await asyncio.gather(*(joined(t, f.code) for f in fleets for t in f.boards))
        res.join_s = time.monotonic() - clock
        res.tabs = sum(len(f.boards) for f in fleets)
        for f in fleets:
            for tab in [t for t in f.boards if not board_ready(t)]:  # a failed join: once more, alone
                await tab.close()
                await join_board(tab, f.code, args.timeout)
            for tab in f.dashboards:
                await open_dashboard(tab, f.code, f.key, args.timeout)
        progress(
            f"{res.tabs} tabs joined {len(fleets)} session(s) in {res.join_s:.1f} s "
            f"({len(res.join_errors)} errors), dashboards open",
            started,
        )
        gone = 0  # participants whose tab was closed (no leave)

        def all_online(t: Tab) -> bool:
            rows = shown_rows(t)
            online = sum(1 for p in rows if p.get("online") == "true")
            return board_ready(t) and len(rows) == args.clients + gone and online == args.clients

        for f in fleets:
            await f.until_all(all_online, f.boards, f"all {args.clients} participants online")
        res.rss_tabs = server_rss(app_pgid)
        progress("every tab shows every participant online", started)
        for t in all_tabs:
            worker = t.get(BOARD, "worker")
            if worker:
                res.workers[worker] = res.workers.get(worker, 0) + 1
        if args.closed_tabs:
            closed = [Tab(ws_base, f"C{i:03d}") for i in range(args.closed_tabs)]
            await asyncio.gather(*(gated(join_board(t, fleets[0].code, args.timeout)) for t in closed))
            await asyncio.gather(*(t.close() for t in closed))  # browser closed, no "leave"
            gone = len(closed)
            await fleets[0].until_all(all_online, fleets[0].boards, f"{gone} participants offline")
            gone = 0 if len(fleets) > 1 else gone
            progress(f"{len(closed)} more participants joined and closed their tabs", started)
        actors = {id(f): f.boards[: max(1, min(args.actors, args.clients))] for f in fleets}
        await asyncio.gather(*(sort_all(a, f) for f in fleets for a in actors[id(f)]))
        for f in fleets:
            await f.settle(0.5)
        progress("the actors sorted their cards", started)
        if floor is not None:
            for f in fleets:
                for t in f.boards:
                    twin = floor_tabs[id(t)] = Tab(floor.url, t.name, room=f.code)
                    await gated(twin.open("/floor", {}, args.timeout))
            progress(f"{len(floor_tabs)} sockets open on the python-socketio floor", started)
        res.dropped_setup = sum(len(t.drops) for t in all_tabs)
        res.setup_s = time.monotonic() - started

        plan = {"step": ["step"], "move": ["move"], "both": ["step", "move"]}[args.action]
        log0 = app_log.stat().st_size if app_log is not None else 0
        quiet = [t for f in fleets for t in f.boards if t not in actors[id(f)]]
        twins = [floor_tabs[id(t)] for t in quiet if id(t) in floor_tabs]
        floor_pgid = floor.proc.pid if floor is not None else None
        for action in plan:
            stats = res.actions[action] = ActionStats(rounds=args.rounds, quiet_tabs=len(quiet))
            frames0, bytes0 = sum(t.received for t in quiet), sum(t.received_bytes for t in quiet)
            fbytes0 = sum(t.received_bytes for t in twins)
            cpu0, clock0, server0 = time.process_time(), time.monotonic(), server_cpu(app_pgid)
            floor_cpu = 0.0
            for i in range(args.rounds):
                turn = [(f, actors[id(f)][i % len(actors[id(f)])]) for f in fleets]
                plans = [(step_round if action == "step" else move_round)(a, f) for f, a in turn]
                rounds = await asyncio.gather(*(run_round(send, w, args.round_timeout) for w, send in plans))
                for got, missed in rounds:
                    res.add(got)
                    res.missed += missed
                if floor is not None and action == "step":
                    # the frame the app sent this round, relayed by the floor to the same sockets
                    f0 = server_cpu(floor_pgid)
                    floor_plans = []
                    for f, a in turn:
                        frame = next((t.last_live for t in f.boards if t is not a and t.last_live), None)
                        if frame is not None:
                            others = [floor_tabs[id(t)] for t in f.boards if t is not a]
                            floor_plans.append(floor_round(floor_tabs[id(a)], others, frame))
                    got = await asyncio.gather(
                        *(run_round(send, w, args.round_timeout) for w, send in floor_plans)
                    )
                    floor_cpu += (server_cpu(floor_pgid) or 0) - (f0 or 0)
                    for series, missed in got:
                        res.add(series)
                        res.missed += missed
                await asyncio.sleep(args.gap_ms / 1000)
                for _, a in turn:
                    a.drain()  # its mirror (the step and piles it shows) for its next turn
                for f in fleets:
                    await f.revive()
            for f in fleets:
                await f.settle(0.3)
            stats.seconds, stats.client_cpu_s = time.monotonic() - clock0, time.process_time() - cpu0
            server1 = server_cpu(app_pgid)
            if server0 is not None and server1 is not None:
                stats.server_cpu_s = server1 - server0
            stats.board_frames = sum(t.received for t in quiet) - frames0
            stats.board_bytes = sum(t.received_bytes for t in quiet) - bytes0
            stats.floor_bytes = sum(t.received_bytes for t in twins) - fbytes0
            stats.floor_cpu_s = floor_cpu if floor is not None and action == "step" else None
            progress(f"{args.rounds} {action} rounds", started)
        if app_log is not None:
            with app_log.open("rb") as log:
                log.seek(log0)
                res.ghost_deltas = log.read().decode(errors="replace").count(GHOST)
        res.drop_reasons = [r for t in all_tabs for r in t.drops]
        res.dropped_rounds = len(res.drop_reasons) - res.dropped_setup
        async with httpx.AsyncClient(base_url=url, timeout=args.timeout) as api:
            scrape = (await api.get("/metrics")).text  # with several workers: whichever answered
        res.metrics = [m for m in scrape.splitlines() if m.startswith("cardsort_") and "_bucket" not in m]
    finally:
        await asyncio.gather(*(t.close() for t in all_tabs), return_exceptions=True)
        await asyncio.gather(*(t.close() for t in floor_tabs.values()), return_exceptions=True)
    if args.linger:
        progress(f"every tab closed; waiting {args.linger:.0f} s", started)
        await asyncio.sleep(args.linger)
    res.rss_closed = server_rss(app_pgid)
    return res


# --- reporting ----------------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


PCTS = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999))


def report(res: Results, args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 132), soft_wrap=True)  # a figure stays on one line
    where = f"{args.sessions} sessions × {args.clients}" if args.sessions > 1 else f"{args.clients}"
    table = Table(
        title=f"Live fan-out, {where} participant tabs + {args.dashboards} dashboards per session, "
        f"{args.workers} worker(s), {args.rounds} rounds per action, ms"
    )
    table.add_column("received by")
    table.add_column("deltas", justify="right")
    table.add_column("min", justify="right")
    for name, _ in PCTS:
        table.add_column(name, justify="right")
    table.add_column("max", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("≤ 100 ms", justify="right")
    table.add_column("p50 / ref", justify="right")
    for name, values in res.series.items():
        ref = res.series.get(REFERENCE.get(name, ""))
        within = sum(1 for v in values if v <= 100) / len(values) * 100
        row = [name, f"{len(values):,}", f"{min(values):.1f}", *(f"{pct(values, p):.1f}" for _, p in PCTS)]
        row += [f"{max(values):.1f}", f"{statistics.fmean(values):.1f}", f"{within:.2f} %"]
        row.append(f"{pct(values, 0.5) / pct(ref, 0.5):.2f}" if ref else "—")
        table.add_row(*row)
    console.print(table)
    others, floor = res.series.get(STEP_OTHERS), res.series.get(FLOOR_OTHERS)
    if others:
        within = sum(1 for v in others if v <= 100) / len(others) * 100
        line = (
            f"other participants: p50 {pct(others, 0.5):.1f} ms, p99 {pct(others, 0.99):.1f} ms, "
            f"{within:.2f} % within 100 ms (target 99.9 %)"
        )
        if floor:
            line += (
                f"; python-socketio floor, same frames and sockets: p50 {pct(floor, 0.5):.1f} ms, "
                f"p99 {pct(floor, 0.99):.1f} ms; "
                f"app p50 / floor p50 = {pct(others, 0.5) / pct(floor, 0.5):.2f} (target ≤ 2.0)"
            )
        console.print(line)
    for action, st in res.actions.items():
        per_tab = max(1, st.quiet_tabs * st.rounds)
        line = (
            f"{action}: {st.rounds} rounds in {st.seconds:.1f} s; a participant tab that never acts got "
            f"{st.board_frames / per_tab:.2f} frames, {st.board_bytes / per_tab:,.0f} bytes per round "
            f"(floor: {st.floor_bytes / per_tab:,.0f}); "
            f"CPU per round: client {st.client_cpu_s / st.rounds * 1000:.1f} ms"
        )
        if st.server_cpu_s is not None:
            line += f", app {st.server_cpu_s / st.rounds * 1000:.1f} ms"
        if st.floor_cpu_s is not None:
            line += f", floor {st.floor_cpu_s / st.rounds * 1000:.1f} ms"
        console.print(line + f" (one round = one change in each of the {args.sessions} session(s))")
    console.print(
        f"join: {res.tabs} tabs (join + reload, {args.connect_concurrency} at a time) in {res.join_s:.1f} s, "
        f"{len(res.join_errors)} errors; set-up {res.setup_s:.1f} s; missed (no delta within "
        f"{args.round_timeout:.0f} s): {res.missed}; sockets the server dropped: {res.dropped_setup} during "
        f"set-up, {res.dropped_rounds} during the rounds (reopened)"
    )
    if res.join_errors:
        console.print(f"first join error: {res.join_errors[0]}")
    if len(res.workers) > 1:
        console.print(f"tabs per backend worker: {sorted(res.workers.values())}")
    if res.drop_reasons:
        console.print(f"first drop: {res.drop_reasons[0]}")
    if res.ghost_deltas is not None:
        console.print(f"app log during the rounds: {res.ghost_deltas} deltas addressed to disconnected tabs")
    if res.metrics:
        console.print("app /metrics after the rounds:\n  " + "\n  ".join(res.metrics), highlight=False)
    if res.rss_idle is not None and res.rss_tabs is not None and res.rss_closed is not None:
        per_tab = (res.rss_tabs - res.rss_idle) * 1024 / max(1, res.tabs)
        console.print(
            f"app resident memory: {res.rss_idle:.0f} MiB before the tabs, {res.rss_tabs:.0f} MiB with them "
            f"({per_tab:.0f} KiB per tab), {res.rss_closed:.0f} MiB {args.linger:.0f} s after they closed"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=30, help="participant tabs per session")
    parser.add_argument(
        "--sessions", type=int, default=1, help="sessions acting at once (each --clients tabs)"
    )
    parser.add_argument("--dashboards", type=int, default=2, help="facilitator dashboard tabs per session")
    parser.add_argument("--rounds", type=int, default=100, help="rounds per action")
    parser.add_argument("--actors", type=int, default=5, help="participants taking turns to act")
    parser.add_argument("--action", choices=["step", "move", "both"], default="both")
    parser.add_argument("--deck", default="values")
    parser.add_argument("--gap-ms", type=float, default=50, help="pause between rounds")
    parser.add_argument("--timeout", type=float, default=30, help="seconds for each set-up wait")
    parser.add_argument("--round-timeout", type=float, default=10, help="seconds a round waits")
    parser.add_argument(
        "--closed-tabs", type=int, default=0, help="participants who join, then close their tab (no leave)"
    )
    parser.add_argument("--connect-concurrency", type=int, default=10, help="tabs joining at once")
    parser.add_argument("--no-floor", action="store_true", help="skip the python-socketio floor")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="backend workers; > 1 runs the scale-out deployment (PostgreSQL, Redis, the local Ably server)",
    )
    parser.add_argument("--linger", type=float, default=0, help="seconds to wait after closing every tab")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the benchmark runs")
    parser.add_argument("--url", help="a running app on loopback; default: start one as `make run` does")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.dashboards, args.rounds, args.actors = 4, 1, 3, 2
        args.deck, args.gap_ms = "values-mini", 10

    server = None
    app_log = None
    cleanup: list[Callable[[], Any]] = []
    if args.url and urllib.parse.urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--url must be a loopback address")
    tmp = Path(tempfile.mkdtemp())
    if not args.url:
        from tests.support.app_server import AppServer, app_env, free_port

        app_log = tmp / "app.log"
        if args.workers > 1:
            import redis

            from tests.multiworker.conftest import AblyProcess, cluster_env
            from tests.support.databases import Database
            from tests.support.services import redis_url

            ably = AblyProcess()
            cleanup.append(ably.close)
            db = Database("postgresql", tmp, prefix="bench_wsload")
            cleanup.append(db.drop)
            redis.Redis.from_url(redis_url()).flushdb()
            env = cluster_env(ably, db.url, workers=args.workers) | LOAD_GENERATOR_LIMITS
        else:
            env = app_env(DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}", **LOAD_GENERATOR_LIMITS)
        server = AppServer(free_port(), env, app_log)
        print(f"starting the app (log: {app_log})", file=sys.stderr, flush=True)
        server.start()
    floor = None if args.no_floor else Floor(tmp / "floor.log")
    try:
        pgid = server.proc.pid if server is not None and server.proc is not None else None
        res = asyncio.run(bench(args.url or server.url, args, pgid, app_log, floor))
    finally:
        if floor is not None:
            floor.stop()
        if server:
            server.stop()
        for step in reversed(cleanup):
            step()
    report(res, args)


if __name__ == "__main__":
    main()
