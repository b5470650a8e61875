"""Cardsort benchmarks: figures for the core paths, each beside a reference measured in the same run.

    python -m benchmarks.run                   # this tree
    python -m benchmarks.run --reference REV   # also run REV's code (a git revision) and print the ratios

Machines here are noisy, so the table shows ratios: "x ref" compares this tree with the reference
revision run side by side; in-run baselines (full replay for snapshot loads) are shown as ratios too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from tests.support.databases import Database

ROOT = Path(__file__).resolve().parents[1]


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_reduce(log) -> dict[str, float]:
    from cardsort_app.domain.reducer import replay

    seconds = _best(lambda: replay(log), repeat=3)
    return {"reduce: events/s": len(log) / seconds}


def bench_store(url: str, log, label: str) -> dict[str, float]:
    from cardsort_app.store import migrate
    from cardsort_app.store.eventstore import EventStore

    migrate.upgrade(url)
    store = EventStore(url, snapshot_every=100)
    code = log[0].session_code + label[:2].upper()
    events = [
        e.model_copy(update={"session_code": code, "seq": None, "id": f"{code}-{i}"})
        for i, e in enumerate(log)
    ]
    store.create_session(code, "bench", "values", "x")
    n_single = min(1000, len(events) // 2)
    t = time.perf_counter()
    for e in events[:n_single]:
        store.append(e)
    appends = n_single / (time.perf_counter() - t)
    batch = 1000
    for i in range(n_single, len(events), batch):
        store.append_many(events[i : i + batch])
    store.save_snapshot(code, store.load_full(code))  # a snapshot at the head, as after a quiet period
    loads = []
    for _ in range(7):
        t = time.perf_counter()
        store.load(code)
        loads.append(time.perf_counter() - t)
    full = _best(lambda: store.load_full(code), repeat=2)
    store.dispose()
    return {
        f"{label} append: appends/s (1 writer)": appends,
        f"{label} load {len(log) // 1000}k events + snapshots: ms": statistics.median(loads) * 1000,
        f"{label} full replay / snapshot load: ratio": full / statistics.median(loads),
    }


def bench_memory(log) -> dict[str, float]:
    from cardsort_app.domain.reducer import replay

    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    state = replay(log)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert state.version == len(log)
    return {"projection memory (30 people): KiB": size / 1024}


def bench_fanout(tmp: Path, rounds: int = 300) -> dict[str, float]:
    """Service round trip: command decided, appended (SQLite), applied, and 30 tab listeners told."""
    from cardsort_app.bootstrap import build
    from cardsort_app.domain import rules

    async def run() -> list[float]:
        rt = build(f"sqlite:///{tmp / 'fanout.db'}")
        created = await rt.service.create_session("bench", "values")
        people = [await rt.service.join(created.code, f"P{i}") for i in range(30)]
        got: list[float] = []
        done = asyncio.Event()
        start = 0.0

        def make_listener():  # one per tab: the hub keeps a set of listeners
            def listener(_state, _events) -> None:
                got.append(time.perf_counter() - start)
                if len(got) == 30:
                    done.set()

            return listener

        for _ in range(30):  # 30 tabs listening
            await rt.hub.listen(created.code, make_listener())
        latencies = []
        for i in range(rounds):
            me = people[i % 30]
            state = await rt.hub.state(created.code)
            card = state.participant(me.participant_id).pile("unsorted")[0]
            done.clear()
            got.clear()
            start = time.perf_counter()
            await rt.service.command(
                created.code, me, lambda s, pid, c=card: rules.move_card(s, pid, c, "important")
            )
            await done.wait()
            latencies.append(max(got))
        await rt.close()
        return latencies

    lat = sorted(asyncio.run(run()))
    return {
        "command -> 30 listeners p50: ms": lat[len(lat) // 2] * 1000,
        "command -> 30 listeners p99: ms": lat[int(len(lat) * 0.99)] * 1000,
    }


def bench_sessions_at_once(tmp: Path, sessions: int = 20, rounds: int = 40) -> dict[str, float]:
    """The app's command path when many sessions change in the same instant (SQLite, one process): one
    command in each of `sessions` sessions, started together; each command's time until appended."""
    from cardsort_app.bootstrap import build
    from cardsort_app.domain import rules

    async def run() -> list[float]:
        rt = build(f"sqlite:///{tmp / 'at_once.db'}")
        people = []
        for _ in range(sessions):
            created = await rt.service.create_session("bench", "values")
            people.append((created.code, await rt.service.join(created.code, "P")))
        latencies: list[float] = []

        async def one(code: str, me, i: int) -> None:  # noqa: ANN001 - the service's identity
            state = await rt.hub.state(code)
            card = state.participant(me.participant_id).pile("unsorted" if i % 2 == 0 else "important")[0]
            target = "important" if i % 2 == 0 else "unsorted"
            t = time.perf_counter()
            await rt.service.command(code, me, lambda s, pid, c=card: rules.move_card(s, pid, c, target))
            latencies.append(time.perf_counter() - t)

        for i in range(rounds):
            await asyncio.gather(*(one(code, me, i) for code, me in people))
        await rt.close()
        return latencies

    lat = sorted(asyncio.run(run()))
    return {
        f"{sessions} sessions command at once -> appended p50: ms": lat[len(lat) // 2] * 1000,
        f"{sessions} sessions command at once -> appended p99: ms": lat[int(len(lat) * 0.99)] * 1000,
    }


def measure(
    n_events: int,
    postgres: bool,
    quick: bool = False,
    compare_eventsourcing: bool = True,
    only_eventsourcing: bool = False,
) -> dict[str, float]:
    from benchmarks.workload import session_log

    log = session_log(n_events)
    results: dict[str, float] = {}
    if only_eventsourcing:
        return _compare_eventsourcing(log, postgres, quick)
    results.update(bench_reduce(log))
    results.update(bench_memory(log))
    with tempfile.TemporaryDirectory() as tmp:
        results.update(bench_store(f"sqlite:///{tmp}/bench.db", log, "sqlite"))
        results.update(bench_fanout(Path(tmp), rounds=30 if quick else 300))
        results.update(bench_sessions_at_once(Path(tmp), rounds=5 if quick else 40))
    if postgres:  # a throwaway schema, so runs never collide
        with tempfile.TemporaryDirectory() as tmp:
            db = Database("postgresql", Path(tmp), prefix="bench_store")
            try:
                results.update(bench_store(db.url, log, "postgres"))
            finally:
                db.drop()
    if compare_eventsourcing:
        results.update(_compare_eventsourcing(log, postgres, quick))
    return results


def _compare_eventsourcing(log, postgres: bool, quick: bool) -> dict[str, float]:
    from benchmarks.es_compare import compare

    with tempfile.TemporaryDirectory() as tmp:
        size = min(10_000, len(log))
        return compare(Path(tmp), log, 200 if quick else 8_000, size, postgres)


def _reference(rev: str, n_events: int, postgres: bool) -> dict[str, float]:
    """Run this benchmark file against REV's code, in a temporary worktree, in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "ref"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, check=True, capture_output=True
        )
        try:
            env = {**os.environ, "PYTHONPATH": f"{tree}:{ROOT}"}
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import json,sys; sys.path.insert(0, sys.argv[1]); "
                    "from benchmarks.run import measure; "
                    "print(json.dumps(measure(int(sys.argv[2]), sys.argv[3] == '1')))",
                    str(tree),
                    str(n_events),
                    "1" if postgres else "0",
                ],
                cwd=tree,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            return json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--reference", help="a git revision to run side by side")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the benchmark runs")
    parser.add_argument(
        "--only-eventsourcing", action="store_true", help="only the comparison with the eventsourcing package"
    )
    args = parser.parse_args()
    if args.quick:
        args.events = 2_000
    console = Console()
    with console.status("measuring this tree"):
        mine = measure(
            args.events, not args.no_postgres, args.quick, only_eventsourcing=args.only_eventsourcing
        )
    ref = {}
    if args.reference:
        with console.status(f"measuring {args.reference}"):
            ref = _reference(args.reference, args.events, not args.no_postgres)
    table = Table(title=f"Cardsort benchmarks ({args.events:,} events, 30 participants)")
    table.add_column("measure")
    table.add_column("this tree", justify="right")
    if ref:
        table.add_column(args.reference, justify="right")
        table.add_column("x ref", justify="right")
    for name, value in mine.items():
        row = [name, f"{value:,.2f}"]
        if ref:
            other = ref.get(name)
            row += [f"{other:,.2f}" if other else "—", f"{value / other:.2f}" if other else "—"]
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
