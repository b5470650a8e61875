"""Replay jump time: how long the dashboard's replay takes to rebuild a 100k-event session at a random seq.

    python -m benchmarks.replay_jump                   # SQLite, 100k events
    python -m benchmarks.replay_jump --postgres        # PostgreSQL too

The session is appended the way a live one is (snapshots every 100 events); each jump is
``EventStore.load_at(code, seq)``: the nearest earlier state it rebuilt recently (scrubbing, playback) or
the newest snapshot at or before seq, plus the events after it. Measured: random jumps anywhere (cold),
a slider drag (20 jumps within +-40 events of the last), playback at 100 events/s (+20 a tick), the last
two also without the cache of rebuilt states, and the dashboard's work on a state (rows + their JSON). The
reference in the same run is rebuilding a seq by replaying the log from seq 1 (what a replay without
snapshots would cost). Target: a jump anywhere in <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.workload import session_log
from tests.support.databases import Database


def _timed(store, code: str, seqs: list[int]) -> list[float]:
    times = []
    for seq in seqs:
        t = time.perf_counter()
        state = store.load_at(code, seq)
        times.append(time.perf_counter() - t)
        assert state.version == seq
    return sorted(times)


def _p(times: list[float], q: float) -> float:
    return times[max(0, int(len(times) * q) - 1)] * 1000


def _scrub(rng: random.Random, n_events: int, drags: int) -> list[int]:
    """Dragging the slider: from a random place, 20 positions each within +-40 events of the last."""
    seqs = []
    for _ in range(drags):
        seq = rng.randint(1, n_events)
        for _ in range(20):
            seq = min(n_events, max(1, seq + rng.randint(-40, 40)))
            seqs.append(seq)
    return seqs


def _play(rng: random.Random, n_events: int, runs: int) -> list[int]:
    """Playback at 100 events/s: 20 events a tick, 25 ticks from a random place."""
    seqs = []
    for _ in range(runs):
        start = rng.randint(1, n_events - 500)
        seqs += [start + 20 * i for i in range(25)]
    return seqs


def _ui_path(state) -> tuple[float, int]:
    """What the dashboard does with a rebuilt state: its rows and the JSON Reflex sends (ms, bytes)."""
    from cardsort_app.ui.replay_state import replay_rows

    t = time.perf_counter()
    rows = replay_rows(state, set())
    body = json.dumps({"rows": rows, "seq": state.version}, separators=(",", ":"))
    return (time.perf_counter() - t) * 1000, len(body.encode())


def measure(url: str, n_events: int, jumps: int = 50, seed: int = 3) -> dict[str, float]:
    from cardsort_app.domain.reducer import replay
    from cardsort_app.store import eventstore, migrate
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
    n = len(events)
    rng = random.Random(seed)
    cold = _timed(store, code, [rng.randint(1, n) for _ in range(jumps)])
    scrub_seqs = _scrub(rng, n, max(2, jumps // 10))
    play_seqs = _play(rng, n, max(2, jumps // 10))
    scrub = _timed(store, code, scrub_seqs)
    play = _timed(store, code, play_seqs)
    # The same scrub and play without the cache of rebuilt states: every jump from its snapshot.
    plain = EventStore(url, snapshot_every=100)
    plain._travel_cache = eventstore._TravelCache(0)
    scrub_plain = _timed(plain, code, scrub_seqs)
    play_plain = _timed(plain, code, play_seqs)
    plain.dispose()
    ui_ms, ui_bytes = _ui_path(store.load_at(code, n))
    full = []
    for seq in [rng.randint(1, n) for _ in range(3)]:
        t = time.perf_counter()
        replay(store.events_after(code, 0)[:seq])
        full.append(time.perf_counter() - t)
    store.dispose()
    return {
        "jump p50 ms": _p(cold, 0.5),
        "jump p95 ms": _p(cold, 0.95),
        "jump max ms": cold[-1] * 1000,
        "scrub p50 ms": _p(scrub, 0.5),
        "scrub p95 ms": _p(scrub, 0.95),
        "scrub p95, no cache ms": _p(scrub_plain, 0.95),
        "play p50 ms": _p(play, 0.5),
        "play p50, no cache ms": _p(play_plain, 0.5),
        "rows + JSON (head) ms": ui_ms,
        "rows JSON KiB": ui_bytes / 1024,
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
    # One row per figure (the quick test greps them; a row never wraps, a wide header would).
    table = Table(title=f"Replay jump, {args.events:,} events (snapshots every 100)")
    table.add_column("measure", no_wrap=True)
    for backend in results:
        table.add_column(backend, justify="right", no_wrap=True)
    for key in next(iter(results.values())):
        table.add_row(key, *[f"{row[key]:.1f}" for row in results.values()])
    console.print(table)


if __name__ == "__main__":
    main()
