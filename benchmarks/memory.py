"""Memory of abandoned sessions: does the app give back what sessions nobody uses any more held?

    python -m benchmarks.memory [--sessions 2000] [--tabs 5] [--idle 300] [--quick]

Starts the app as `make run` does, then, `--batch` sessions at a time: creates a session
(`POST /api/sessions`), joins `--tabs` headless participant tabs to it (the board's own join, then a reload,
tests/support/reflex_ws.py) and closes them without leaving (abandoned). The app's resident memory (its
process group, /proc) is read after the first 100 sessions (the reference level) and again after all of
them plus `--idle` seconds of quiet (the app's housekeeping releases idle projections after ~2 min).
Target: the last reading within 20 % of the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.ws_load import LOAD_GENERATOR_LIMITS, server_rss
from tests.support.reflex_ws import Tab, join_board


async def abandon(url: str, tabs: int, deck: str, timeout: float) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as api:
        r = await api.post("/api/sessions", json={"title": "memory", "deck": deck})
        r.raise_for_status()
        code = r.json()["code"]
    ws_base = url.replace("http://", "ws://", 1)
    opened = [Tab(ws_base, f"M{i}") for i in range(tabs)]
    try:
        await asyncio.gather(*(join_board(t, code, timeout) for t in opened))
    finally:
        await asyncio.gather(*(t.close() for t in opened), return_exceptions=True)


async def run(url: str, args: argparse.Namespace, pgid: int) -> dict[str, float]:
    started = time.monotonic()
    readings = {"before any session": server_rss(pgid) or 0.0}
    done = 0
    reference_at = min(100, args.sessions)
    while done < args.sessions:
        batch = min(args.batch, args.sessions - done)
        if done < reference_at:  # the reference reading falls exactly after the first 100
            batch = min(batch, reference_at - done)
        await asyncio.gather(*(abandon(url, args.tabs, args.deck, args.timeout) for _ in range(batch)))
        done += batch
        if done == reference_at:
            await asyncio.sleep(args.settle)
            readings[f"after the first {reference_at} sessions"] = server_rss(pgid) or 0.0
        if done % 100 == 0:
            print(f"[{time.monotonic() - started:6.0f} s] {done} sessions", file=sys.stderr, flush=True)
    readings[f"after {args.sessions} sessions"] = server_rss(pgid) or 0.0
    await asyncio.sleep(args.idle)
    readings[f"after {args.sessions} sessions and {args.idle:.0f} s idle"] = server_rss(pgid) or 0.0
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--tabs", type=int, default=5, help="participant tabs joining each session")
    parser.add_argument("--batch", type=int, default=10, help="sessions worked on at once")
    parser.add_argument("--idle", type=float, default=300, help="quiet seconds before the last reading")
    parser.add_argument("--settle", type=float, default=5, help="quiet seconds before the reference reading")
    parser.add_argument("--deck", default="values-mini")
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the benchmark runs")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.tabs, args.batch, args.idle, args.settle = 4, 2, 2, 1, 0

    from tests.support.app_server import AppServer, app_env, free_port

    tmp = Path(tempfile.mkdtemp())
    env = app_env(DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}", **LOAD_GENERATOR_LIMITS)
    server = AppServer(free_port(), env, tmp / "app.log")
    print(f"starting the app (log: {tmp / 'app.log'})", file=sys.stderr, flush=True)
    server.start()
    try:
        readings = asyncio.run(run(server.url, args, server.proc.pid))
    finally:
        server.stop()
    print(f"Memory of abandoned sessions ({args.tabs} tabs each, joined then closed), app resident MiB")
    for name, mib in readings.items():
        print(f"  {name:<45} {mib:8.1f}")
    keys = list(readings)
    reference, last = readings[keys[1]], readings[keys[-1]]
    print(f"last / reference: {last / reference:.2f} (target ≤ 1.20)")


if __name__ == "__main__":
    main()
