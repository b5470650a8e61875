"""Replay jump time: how long the dashboard's replay takes to rebuild a 100k-event session at a random seq.

    python -m benchmarks.replay_jump                   # SQLite, 100k events
    python -m benchmarks.replay_jump --postgres        # PostgreSQL too

The session is appended the way a live one is (snapshots every 100 events); each jump is
``EventStore.load_at(code, seq)`` = newest snapshot at or before seq + the events after it. The reference
in the same run is rebuilding the same seq by replaying the log from seq 1 (what a replay without
snapshots would cost). Target: a jump anywhere in <= 50 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.workload import session_log
from tests.support.databases import Database


def measure(url: str, n_events: int, jumps: int = 50, seed: int = 3) -> dict[str, float]:
    from cardsort_app.domain.reducer import replay
    from cardsort_app.store import migrate
    from cardsort_app.store.eventstore import EventStore

    migrate.upgrade(url)
    log = session_log(n_events)
    store = EventStore(url, snapshot_every=100)
    code = f"RJ{random.Random().randrange(10**6):06d}"
    store.create_session(code, "bench", "values", "x")
    events = [
        e.model_copy(update={"session_code": code, "seq": None, "id": f"{code}-{i}"})
        for i, e in enumerate(log)
    ]
    for i in range(0, len(events), 100):  # batches of 100: each one snapshots, as single appends would
        store.append_many(events[i : i + 100])
    rng = random.Random(seed)
    seqs = [rng.randint(1, len(events)) for _ in range(jumps)]
    times = []
    for seq in seqs:
        t = time.perf_counter()
        state = store.load_at(code, seq)
        times.append(time.perf_counter() - t)
        assert state.version == seq
    sample = seqs[:3]
    full = []
    for seq in sample:
        t = time.perf_counter()
        state = replay(store.events_after(code, 0)[:seq])
        full.append(time.perf_counter() - t)
    store.dispose()
    times.sort()
    return {
        "jump p50 ms": statistics.median(times) * 1000,
        "jump p95 ms": times[int(len(times) * 0.95) - 1] * 1000,
        "jump max ms": times[-1] * 1000,
        "replay from seq 1 (reference) ms": statistics.median(full) * 1000,
    }


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="2,000 events, 10 jumps (the test suite's run)")
    args = parser.parse_args()
    jumps = 10 if args.quick else 50
    if args.quick:
        args.events = 2_000
    console = Console()
    results = {}
    with tempfile.TemporaryDirectory() as tmp, console.status("measuring"):
        results["sqlite"] = measure(f"sqlite:///{tmp}/replay.db", args.events, jumps)
        if args.postgres:  # a throwaway schema, so runs never collide
            db = Database("postgresql", Path(tmp), prefix="bench_replay")
            try:
                results["postgres"] = measure(db.url, args.events, jumps)
            finally:
                db.drop()
    table = Table(title=f"Replay jump, {args.events:,} events (snapshots every 100)")
    table.add_column("backend")
    for key in next(iter(results.values())):
        table.add_column(key, justify="right")
    for backend, row in results.items():
        table.add_row(backend, *[f"{v:.1f}" for v in row.values()])
    console.print(table)


if __name__ == "__main__":
    main()
