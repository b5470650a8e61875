"""Memory per connected tab, and of abandoned sessions: does the app give back what closed tabs held?

    python -m benchmarks.memory [--open-tabs 200] [--sessions 2000] [--tabs 5] [--idle 300] [--quick]

Starts the app as `make run` does (its own SQLite file, `--grace` as CARDSORT_TAB_GRACE_SECONDS: how long
a closed tab's state is kept for a reconnect), then measures two things, both with headless tabs speaking
the app's Reflex protocol (tests/support/reflex_ws.py):

1. **Per tab** (issue 10: ≤ 50 KB per connected tab, released when the tab is gone): `--open-tabs` tabs
   join one session (the board's own join, then a reload), `--connect-concurrency` at a time, after
   `--warmup` tabs came and went. The app's resident memory (its process group, /proc) before and with
   them gives KiB per tab (`--heap`: also the Python heap, traced by tracemalloc, which leaves out the
   allocators' slack and the server's own socket buffers outside Python); then they close and,
   after the grace period, the reading is taken again beside the app's own gauges (`/metrics`:
   `cardsort_tab_states`, Reflex states held; `cardsort_tab_records`, the live registry's tabs), which
   must be back where they were. A second wave of as many tabs then shows whether the memory the first
   wave gave back is reused (the resident size rarely shrinks: CPython keeps freed arenas).
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
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.ws_load import LOAD_GENERATOR_LIMITS, server_rss
from cardsort_app.ui.tab_expiry import TRIM_AFTER_S
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
async def per_tab(url: str, args: argparse.Namespace, pgid: int, out: list[str]) -> None:
    ws = url.replace("http://", "ws://", 1)
    gate = asyncio.Semaphore(args.connect_concurrency)

    async def joined(tab: Tab, code: str) -> None:
        async with gate:
            await join_board(tab, code, args.timeout)

    async def join_wave(api: httpx.AsyncClient, name: str, n: int) -> list[Tab]:
        r = await api.post("/api/sessions", json={"title": "memory", "deck": args.deck})
        code = r.json()["code"]
        tabs = [Tab(ws, f"{name}T{i:03d}") for i in range(n)]
        await asyncio.gather(*(joined(t, code) for t in tabs))
        return tabs

    async with httpx.AsyncClient(base_url=url, timeout=args.timeout) as api:
        # A first few tabs load what any first tab loads (imports, caches): not a per-tab cost.
        warm = await join_wave(api, "warm", args.warmup)
        await asyncio.gather(*(t.close() for t in warm))
        await asyncio.sleep(args.grace + TRIM_AFTER_S + args.settle)
        before_g = await gauges(api)
        before = server_rss(pgid) or 0.0
        for wave in range(1, args.waves + 1):
            started = time.monotonic()
            tabs = await join_wave(api, f"W{wave}", args.open_tabs)
            joined_s = time.monotonic() - started
            await asyncio.sleep(args.settle)
            with_g, with_tabs = await gauges(api), server_rss(pgid) or 0.0
            await asyncio.gather(*(t.close() for t in tabs))
            await asyncio.sleep(args.grace + TRIM_AFTER_S + args.settle)
            after_g, after = await gauges(api), server_rss(pgid) or 0.0
            per = (with_tabs - before) * 1024 / args.open_tabs
            out += [
                f"  wave {wave}: {args.open_tabs} tabs joined one session in {joined_s:.1f} s",
                f"    app resident MiB: {before:.1f} before the tabs, {with_tabs:.1f} with them "
                f"-> {per:.0f} KiB per tab (target ≤ 50 KB)",
                f"    {after:.1f} MiB {args.grace + TRIM_AFTER_S + args.settle:.0f} s after they closed "
                f"(grace {args.grace:.0f} s): {after - with_tabs:+.1f} MiB since with them",
                f"    gauges before: {show(before_g)}",
                f"    gauges with:   {show(with_g)}",
                f"    gauges after:  {show(after_g)}",
            ]
            if with_g[HEAP] > 0:  # --heap: the Python objects themselves, without the allocators' slack
                heap = (with_g[HEAP] - before_g[HEAP]) / 1024 / args.open_tabs
                out.append(
                    f"    Python heap (tracemalloc) MiB: {before_g[HEAP] / 2**20:.1f} before, "
                    f"{with_g[HEAP] / 2**20:.1f} with them -> {heap:.0f} KiB per tab; "
                    f"{after_g[HEAP] / 2**20:.1f} after they closed"
                )
            released = all(after_g[k] <= before_g[k] for k in GAUGES[:3])
            out.append(
                f"    tab states and records back to their level before: {'yes' if released else 'NO'}"
            )
            print("\n".join(out[-9:]), file=sys.stderr, flush=True)
            before, before_g = after, after_g  # the next wave: does it reuse what this one gave back?


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


async def run(url: str, args: argparse.Namespace, pgid: int) -> list[str]:
    out: list[str] = []
    if args.open_tabs:
        out.append(f"Memory per connected tab ({args.waves} waves of {args.open_tabs} tabs, a session each)")
        await per_tab(url, args, pgid, out)
    if args.sessions:
        await sessions(url, args, pgid, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--open-tabs", type=int, default=200, help="per-tab measure: tabs (0: skip it)")
    parser.add_argument("--waves", type=int, default=2, help="per-tab measure: waves of --open-tabs tabs")
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
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the benchmark runs")
    args = parser.parse_args()
    if args.quick:
        args.open_tabs, args.waves, args.warmup, args.sessions, args.tabs, args.batch = 4, 1, 2, 4, 2, 2
        args.idle, args.settle, args.grace = 1, 0, 1

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
    try:
        out = asyncio.run(run(server.url, args, server.proc.pid))
    finally:
        server.stop()
    print("\n".join(out))


if __name__ == "__main__":
    main()
