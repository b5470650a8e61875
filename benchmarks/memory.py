"""Memory per connected tab, and of abandoned sessions: does the app give back what closed tabs held?

    python -m benchmarks.memory [--open-tabs 50,100,200] [--sessions 2000] [--tabs 5] [--idle 300] [--quick]

Starts the app as `make run` does (its own SQLite file, `--grace` as CARDSORT_TAB_GRACE_SECONDS: how long
a closed tab's state is kept for a reconnect), then measures two things, both with headless tabs speaking
the app's Reflex protocol (tests/support/reflex_ws.py), each on an app process of its own:

1. **Per tab** (issue 10: ≤ 50 KB per connected tab, released when the tab is gone): for each size in
   `--open-tabs`, a fresh app; `--warmup` tabs come and go (what any first tab loads: imports, caches),
   then a wave of that many tabs joins (the board's own join, then a reload; sessions of ≤ 200 tabs),
   `--connect-concurrency` at a time. The app's resident memory (its process group, /proc) before and with
   them is the wave's growth; they close and, after the grace period, the reading is taken again beside
   the app's own gauges (`/metrics`: `cardsort_tab_states`, Reflex states held; `cardsort_tab_records`,
   the live registry's tabs), which must be back where they were. `--waves` waves follow each other on the
   same process: the second shows how much of what the first grew is reused. A least-squares fit of the
   growth over the sizes splits each wave into a one-time part and a per-tab slope: the slope is what the
   target is about (`--heap`: the same for the Python heap, traced by tracemalloc, which leaves out the
   allocators' slack and the server's own buffers outside Python).
2. **Abandoned sessions** (issue 10: back within 20 % of the level after the first 100 sessions):
   `--batch` sessions at a time, each created (`POST /api/sessions`), joined by `--tabs` tabs that then
   close without leaving. Readings after the first 100 sessions (the reference), after all of them, and
   after `--idle` quiet seconds (the housekeeping releases idle projections after ~2 min, closed tabs
   after the grace period).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.ws_load import LOAD_GENERATOR_LIMITS, Floor, server_rss
from cardsort_app.ui.tab_expiry import TRIM_AFTER_S
from tests.support.app_server import JEMALLOC_CONF
from tests.support.reflex_ws import BOARD, LOCAL_STORAGE_NAME, Tab, join_board

GAUGES = ("cardsort_tab_states", "cardsort_tab_records", "cardsort_connected_tabs", "cardsort_sessions")
HEAP = "cardsort_python_heap_bytes"  # non-zero only with --heap (the app traced by tracemalloc)


async def gauges(api: httpx.AsyncClient) -> dict[str, float]:
    r = await api.get("/metrics")
    r.raise_for_status()
    found = {s.name: s.value for f in text_string_to_metric_families(r.text) for s in f.samples}
    return {k: found.get(k, float("nan")) for k in (*GAUGES, HEAP)}


def show(g: dict[str, float]) -> str:
    return ", ".join(f"{k.removeprefix('cardsort_')} {g[k]:.0f}" for k in GAUGES)


async def join_only(tab: Tab, code: str, timeout: float) -> None:
    """The board's join through its form, without the reload (half the connections of `join_board`)."""
    await tab.open(f"/s/{code}", {"code": code}, timeout)
    await tab.until(lambda: tab.get(BOARD, "status") == "join", timeout, "the join form")
    await tab.send(tab_state(), "set_join_name", value=tab.name)
    await tab.send(tab_state(), "join", _form={})
    stored = lambda: code in json.loads(tab.local_storage.get(LOCAL_STORAGE_NAME, "{}"))  # noqa: E731
    await tab.until(stored, timeout, "the identity in localStorage")


def tab_state():
    from cardsort_app.ui.board_state import BoardState

    return BoardState


# --- 1. per tab --------------------------------------------------------------------------------
#: Tabs per session in a wave: the app refuses more than CARDSORT_PARTICIPANTS_PER_SESSION (300) in one.
TABS_PER_SESSION = 200


@dataclass
class Wave:
    """One wave of `tabs` tabs: resident MiB (and gauges) before they joined, with them, after they closed."""

    tabs: int
    joined_s: float
    before: float
    with_tabs: float
    after: float
    gauges: tuple[dict[str, float], dict[str, float], dict[str, float]] = ({}, {}, {})  # before, with, after

    @property
    def growth(self) -> float:
        return self.with_tabs - self.before

    @property
    def released(self) -> bool:
        before, _, after = self.gauges
        return all(after[k] <= before[k] for k in GAUGES[:3])


@dataclass
class Fresh:
    """A fresh app process: resident MiB at start and after the warm-up tabs came and went, then its waves."""

    started: float
    warmed: float
    waves: list[Wave]


async def per_tab(url: str, n: int, args: argparse.Namespace, pgid: int) -> Fresh:
    ws = url.replace("http://", "ws://", 1)
    gate = asyncio.Semaphore(args.connect_concurrency)
    wait_closed = args.grace + TRIM_AFTER_S + args.settle

    async def joined(tab: Tab, code: str) -> None:
        async with gate:
            await join_board(tab, code, args.timeout)

    async def join_wave(api: httpx.AsyncClient, name: str, n: int) -> list[Tab]:
        codes = []
        for _ in range(-(-n // TABS_PER_SESSION)):
            r = await api.post("/api/sessions", json={"title": "memory", "deck": args.deck})
            codes.append(r.json()["code"])
        tabs = [Tab(ws, f"{name}T{i:03d}") for i in range(n)]
        await asyncio.gather(*(joined(t, codes[i // TABS_PER_SESSION]) for i, t in enumerate(tabs)))
        return tabs

    async with httpx.AsyncClient(base_url=url, timeout=args.timeout) as api:
        await asyncio.sleep(args.settle)
        started = server_rss(pgid) or 0.0
        # A first few tabs load what any first tab loads (imports, caches): not a per-tab cost.
        warm = await join_wave(api, "warm", args.warmup)
        await asyncio.gather(*(t.close() for t in warm))
        await asyncio.sleep(wait_closed)
        before_g = await gauges(api)
        before = warmed = server_rss(pgid) or 0.0
        waves = []
        for wave in range(1, args.waves + 1):
            t0 = time.monotonic()
            tabs = await join_wave(api, f"W{wave}", n)
            joined_s = time.monotonic() - t0
            await asyncio.sleep(args.settle)
            with_g, with_tabs = await gauges(api), server_rss(pgid) or 0.0
            await asyncio.gather(*(t.close() for t in tabs))
            await asyncio.sleep(wait_closed)
            after_g, after = await gauges(api), server_rss(pgid) or 0.0
            waves.append(Wave(n, joined_s, before, with_tabs, after, (before_g, with_g, after_g)))
            w = waves[-1]
            print(
                f"  {n} tabs, wave {wave}: joined in {joined_s:.1f} s; resident {before:.1f} -> "
                f"{with_tabs:.1f} MiB ({w.growth * 1024 / n:.0f} KiB per tab) -> {after:.1f} MiB "
                f"after they closed; gauges with {show(with_g)}, after {show(after_g)}",
                file=sys.stderr,
                flush=True,
            )
            before, before_g = after, after_g  # the next wave: does it reuse what this one gave back?
    return Fresh(started, warmed, waves)


async def floor_per_socket(n: int, args: argparse.Namespace) -> Fresh:
    """The server's own cost of a socket: `benchmarks.sio_floor` (python-socketio on granian, the server
    Reflex runs on, with the same Engine.IO settings) in a fresh process, the same waves of tabs, each
    connecting twice as a joining tab does (the join, then the reload). What the app holds per tab beyond
    this is its own (Reflex's state and event handling, our registries)."""
    floor = Floor(Path(tempfile.mkdtemp()) / "floor.log")
    pgid = floor.proc.pid
    gate = asyncio.Semaphore(args.connect_concurrency)
    wait_closed = args.grace + TRIM_AFTER_S + args.settle

    async def connected(tab: Tab) -> None:
        async with gate:
            await tab.open("/floor", {}, args.timeout)
            await tab.close()
            await tab.open("/floor", {}, args.timeout)

    async def wave(name: str, n: int) -> list[Tab]:
        tabs = [Tab(floor.url, f"{name}F{i:03d}", room=name) for i in range(n)]
        await asyncio.gather(*(connected(t) for t in tabs))
        return tabs

    try:
        await asyncio.sleep(args.settle)
        started = server_rss(pgid) or 0.0
        await asyncio.gather(*(t.close() for t in await wave("warm", args.warmup)))
        await asyncio.sleep(wait_closed)
        before = warmed = server_rss(pgid) or 0.0
        waves = []
        for w in range(1, args.waves + 1):
            t0 = time.monotonic()
            tabs = await wave(f"W{w}", n)
            joined_s = time.monotonic() - t0
            await asyncio.sleep(args.settle)
            with_tabs = server_rss(pgid) or 0.0
            await asyncio.gather(*(t.close() for t in tabs))
            await asyncio.sleep(wait_closed)
            after = server_rss(pgid) or 0.0
            waves.append(Wave(n, joined_s, before, with_tabs, after))
            before = after
        return Fresh(started, warmed, waves)
    finally:
        floor.stop()


def fit(points: list[tuple[int, float]]) -> tuple[float, float, float]:
    """Least squares growth = one_time + slope × tabs over (tabs, MiB): (one-time MiB, KiB per tab, the
    largest residual in MiB). With one size there is nothing to separate: all of it is per tab."""
    if len({n for n, _ in points}) < 2:
        n, mib = points[0]
        return 0.0, mib * 1024 / n, 0.0
    mean_n = sum(n for n, _ in points) / len(points)
    mean_m = sum(m for _, m in points) / len(points)
    slope = sum((n - mean_n) * (m - mean_m) for n, m in points) / sum((n - mean_n) ** 2 for n, _ in points)
    one_time = mean_m - slope * mean_n
    worst = max(abs(m - one_time - slope * n) for n, m in points)
    return one_time, slope * 1024, worst


def table(runs: dict[int, Fresh], args: argparse.Namespace) -> list[str]:
    out = [
        "   tabs | at start | after warm-up | "
        + " | ".join(f"wave {w}: before -> with (KiB/tab) -> closed" for w in range(1, args.waves + 1))
    ]
    for n, run in sorted(runs.items()):
        cells = [
            f"{w.before:6.1f} -> {w.with_tabs:6.1f} ({w.growth * 1024 / n:4.0f}) -> {w.after:6.1f}"
            for w in run.waves
        ]
        out.append(f"  {n:5d} | {run.started:8.1f} | {run.warmed:13.1f} | " + " | ".join(cells))
    return out


def slopes(runs: dict[int, Fresh], args: argparse.Namespace) -> list[tuple[float, float, float]]:
    """Per wave: (one-time MiB, KiB per tab, largest residual MiB) of the growth over the sizes."""
    return [fit([(n, run.waves[w].growth) for n, run in runs.items()]) for w in range(args.waves)]


def report_per_tab(runs: dict[int, Fresh], floors: dict[int, Fresh], args: argparse.Namespace) -> list[str]:
    out = [
        f"Memory per connected tab: each size on a fresh app process, after {args.warmup} warm-up tabs came "
        f"and went; {args.waves} waves of that many tabs (sessions of ≤ {TABS_PER_SESSION}), each closed "
        f"and released (grace {args.grace:.0f} s) before the next. App resident MiB:",
    ]
    out += table(runs, args)
    sizes = ", ".join(str(n) for n in sorted(runs))
    floor_fits = slopes(floors, args) if floors else []
    for w, (one_time, slope, worst) in enumerate(slopes(runs, args)):
        what = "a fresh process" if w == 0 else f"the same process after wave {w}"
        out.append(
            f"wave {w + 1} ({what}): {slope:.0f} KiB per tab (target ≤ 50 KB) + {one_time:+.1f} MiB one-time "
            f"(least squares over {sizes} tabs; largest residual {worst:.1f} MiB)"
        )
        if floor_fits:
            f_one, f_slope, f_worst = floor_fits[w]
            out.append(
                f"  the floor's sockets: {f_slope:.0f} KiB per tab + {f_one:+.1f} MiB one-time "
                f"(largest residual {f_worst:.1f} MiB); the app's own beyond the floor: "
                f"{slope - f_slope:.0f} KiB per tab"
            )
    if floors:
        out.append(
            "The floor: benchmarks.sio_floor (python-socketio on granian, what Reflex's socket runs on), "
            "a fresh process per size, the same waves of tabs connecting twice (join, reload), resident MiB:"
        )
        out += table(floors, args)
    warm = [run.warmed - run.started for run in runs.values()]
    out.append(
        f"warm-up ({args.warmup} tabs, closed, before wave 1): {min(warm):+.1f} .. {max(warm):+.1f} MiB"
    )
    if args.heap:  # the Python objects themselves, without the allocators' slack (gauge in bytes)
        for w in range(args.waves):
            heap = [
                (n, (r.waves[w].gauges[1][HEAP] - r.waves[w].gauges[0][HEAP]) / 2**20)
                for n, r in runs.items()
            ]
            one_time, slope, worst = fit(heap)
            out.append(
                f"wave {w + 1}, Python heap (tracemalloc): {slope:.0f} KiB per tab + {one_time:+.1f} MiB "
                f"one-time (largest residual {worst:.1f} MiB)"
            )
    released = all(w.released for run in runs.values() for w in run.waves)
    out.append(
        f"tab states and records back to their level before, every wave: {'yes' if released else 'NO'}"
    )
    return out


# --- 2. abandoned sessions ----------------------------------------------------------------------
async def abandon(url: str, args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=args.timeout) as api:
        r = await api.post("/api/sessions", json={"title": "memory", "deck": args.deck})
        r.raise_for_status()
        code = r.json()["code"]
    ws_base = url.replace("http://", "ws://", 1)
    opened = [Tab(ws_base, f"M{i}") for i in range(args.tabs)]
    join = join_board if args.reload else join_only
    try:
        await asyncio.gather(*(join(t, code, args.timeout) for t in opened))
    finally:
        await asyncio.gather(*(t.close() for t in opened), return_exceptions=True)


async def sessions(url: str, args: argparse.Namespace, pgid: int, out: list[str]) -> None:
    started = time.monotonic()
    readings = {"before any session": server_rss(pgid) or 0.0}
    done = failed = 0
    reference_at = min(100, args.sessions)
    async with httpx.AsyncClient(base_url=url, timeout=args.timeout) as api:
        while done < args.sessions:
            batch = min(args.batch, args.sessions - done)
            if done < reference_at:  # the reference reading falls exactly after the first 100
                batch = min(batch, reference_at - done)
            got = await asyncio.gather(*(abandon(url, args) for _ in range(batch)), return_exceptions=True)
            failed += sum(isinstance(g, BaseException) for g in got)
            done += batch
            if done == reference_at:
                await asyncio.sleep(args.settle)
                readings[f"after the first {reference_at} sessions"] = server_rss(pgid) or 0.0
            if done % 100 == 0:
                print(f"[{time.monotonic() - started:6.0f} s] {done} sessions", file=sys.stderr, flush=True)
        readings[f"after {args.sessions} sessions"] = server_rss(pgid) or 0.0
        at_end = await gauges(api)
        await asyncio.sleep(args.idle)
        readings[f"after {args.sessions} sessions and {args.idle:.0f} s idle"] = server_rss(pgid) or 0.0
        idle = await gauges(api)
    elapsed = time.monotonic() - started
    out.append(
        f"Memory of abandoned sessions ({args.sessions} sessions, {args.tabs} tabs each "
        f"{'joined, reloaded' if args.reload else 'joined'} then closed, {args.batch} sessions at a time; "
        f"{elapsed:.0f} s; {failed} sessions with a failed tab), app resident MiB"
    )
    for name, mib in readings.items():
        out.append(f"  {name:<45} {mib:8.1f}")
    out.append(f"  gauges after the last session: {show(at_end)}")
    out.append(f"  gauges after the idle time:    {show(idle)}")
    keys = list(readings)
    reference, last = readings[keys[1]], readings[keys[-1]]
    out.append(f"last / reference: {last / reference:.2f} (target ≤ 1.20)")


def sizes(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if int(n) > 0]


def start_app(args: argparse.Namespace) -> Any:
    from tests.support.app_server import AppServer, app_env, free_port

    tmp = Path(tempfile.mkdtemp())
    env = app_env(
        DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}",
        CARDSORT_TAB_GRACE_SECONDS=str(args.grace),
        **LOAD_GENERATOR_LIMITS,
        **(
            {"PYTHONTRACEMALLOC": "1", "REFLEX_SOCKET_INTERVAL": "30", "REFLEX_SOCKET_TIMEOUT": "30"}
            if args.heap
            else {}
        ),
    )
    server = AppServer(free_port(), env, tmp / "app.log")
    print(f"starting the app (log: {tmp / 'app.log'})", file=sys.stderr, flush=True)
    server.start()
    return server


def on_fresh_app(args: argparse.Namespace, measure: Any) -> Any:
    """`measure(url, pgid)` against an app process of its own, stopped afterwards."""
    server = start_app(args)
    try:
        return asyncio.run(measure(server.url, server.proc.pid))
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--open-tabs",
        type=sizes,
        default=[50, 100, 200],
        help="per-tab measure: tabs per wave, comma-separated sizes, each on a fresh app (0: skip it)",
    )
    parser.add_argument("--waves", type=int, default=2, help="per-tab measure: waves of each size")
    parser.add_argument("--connect-concurrency", type=int, default=25, help="per-tab measure: joins at once")
    parser.add_argument(
        "--warmup", type=int, default=10, help="per-tab measure: tabs before the first reading"
    )
    parser.add_argument("--sessions", type=int, default=2000, help="abandoned sessions (0: skip them)")
    parser.add_argument("--tabs", type=int, default=5, help="participant tabs joining each session")
    parser.add_argument("--reload", action="store_true", help="each abandoned tab also reloads once")
    parser.add_argument("--batch", type=int, default=10, help="sessions worked on at once")
    parser.add_argument("--idle", type=float, default=300, help="quiet seconds before the last reading")
    parser.add_argument("--settle", type=float, default=5, help="quiet seconds before a reading")
    parser.add_argument("--grace", type=float, default=10, help="CARDSORT_TAB_GRACE_SECONDS of the app")
    parser.add_argument("--deck", default="values-mini")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument(
        "--heap",
        action="store_true",
        help="run the app under tracemalloc (PYTHONTRACEMALLOC=1) and report its Python heap per tab too; "
        "tracing slows it, so its socket ping interval/timeout are raised to 30 s",
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="per-tab measure: without the python-socketio floor"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the benchmark runs")
    args = parser.parse_args()
    if args.quick:
        args.open_tabs, args.waves, args.warmup, args.sessions, args.tabs, args.batch = [2, 4], 2, 2, 4, 2, 2
        args.idle, args.settle, args.grace = 1, 0, 1

    out: list[str] = []
    runs = {n: on_fresh_app(args, lambda url, pgid, n=n: per_tab(url, n, args, pgid)) for n in args.open_tabs}
    os.environ.setdefault("_RJEM_MALLOC_CONF", JEMALLOC_CONF)  # the floor's granian as the app's
    floors = {} if args.no_floor else {n: asyncio.run(floor_per_socket(n, args)) for n in runs}
    if runs:
        out += report_per_tab(runs, floors, args)
    if args.sessions:
        on_fresh_app(args, lambda url, pgid: sessions(url, args, pgid, out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
