"""The SQLite append with one writer, statement alone: what each table layout costs a commit.

    python -m benchmarks.sqlite_layouts             # 4 rounds of 2,500 appends per layout
    python -m benchmarks.sqlite_layouts --quick     # tiny: it completes and prints its table

`benchmarks.run --only-eventsourcing` compares whole appends (Python and SQL); this isolates the SQL and
the disk: every layout is fed the same bodies by the bare `sqlite3` driver, one commit per append, in WAL
with `synchronous = FULL` (an fsync per commit, both sides' setting in that comparison) and `OFF` (the
statement's CPU alone), the layouts alternating round by round. Layouts:

* **ours**: the migrated schema (`alembic/versions`) and the store's own statement for a lone event
  (`appender._SQLITE`: the seq read off `UNIQUE(session_code, seq)` and the session checked in the same
  autocommit `INSERT ... SELECT ... RETURNING`); four B-trees per event: the rowid table,
  `UNIQUE(session_code, seq)`, `UNIQUE(event_id)` (an idempotent retry) and the outbox's partial index;
* **eventsourcing**: the `eventsourcing` package's own table (`SQLiteAggregateRecorder.create_table`: one
  `WITHOUT ROWID` B-tree keyed by aggregate and version) and its insert, `BEGIN` / `INSERT` / `COMMIT`;
* **clustered** (a layout we do not ship): `WITHOUT ROWID` keyed by `(session_code, seq)` plus
  `UNIQUE(event_id)`, the seq read the way ours is: the least that keeps a gapless seq and idempotent
  retries; **clustered + outbox** adds a partial index of the unpublished events.

Every layout stores the same events (the benchmark workload: uuid4 ids, as the app makes them; bodies
as the store writes them, with the store's own statement parameters). Printed: microseconds per append,
the bytes written to storage per event (`/proc/self/io`) and each layout's rate beside the reference's.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.es_compare import _written
from benchmarks.workload import session_log
from cardsort_app.store.appender import Prepared, _params

ROUNDS = 4
CODE = "BENCH1"
_BENCH_NOW = "2026-11-30 12:00:00.000000"

_CLUSTERED = """CREATE TABLE events (session_code TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL,
 type TEXT NOT NULL, participant_id TEXT NOT NULL, body TEXT NOT NULL, schema_version INTEGER NOT NULL,
 created_at TEXT NOT NULL, published INTEGER NOT NULL, PRIMARY KEY (session_code, seq),
 UNIQUE (event_id)) WITHOUT ROWID"""
_CLUSTERED_APPEND = """INSERT INTO events
SELECT :code, h.seq, :eid, :type, :pid, :prefix || h.seq || :suffix, :v, :now, 0
FROM (SELECT coalesce(max(seq), 0) + 1 AS seq FROM events WHERE session_code = :code) AS h RETURNING seq"""
_OUTBOX = "CREATE INDEX ix_unpublished ON events (session_code, seq) WHERE published = 0"

Append = Callable[[int, Prepared], None]  # (i, the event validated and split)


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)  # autocommit: each side issues its own BEGIN
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")  # the store's setting (the reference declares no keys)
    return conn


def _seq_appender(conn: sqlite3.Connection, sql: str) -> Append:
    """Our statement shape: the head read and the row written in one autocommit statement."""
    cur = conn.cursor()

    def append(i: int, p: Prepared) -> None:
        rows = cur.execute(sql, _params(CODE, p, _BENCH_NOW, None)).fetchall()
        assert rows and rows[0][0] == i + 1, rows

    return append


def ours(tmp: Path, synchronous: str) -> Append:
    from cardsort_app.store import migrate
    from cardsort_app.store.appender import _SQLITE

    path = tmp / f"ours-{synchronous}.db"
    migrate.upgrade(f"sqlite:///{path}")
    conn = _connect(path, synchronous)
    conn.execute(
        "INSERT INTO sessions (code, title, deck, facilitator_key_hash, last_seq, created_at, read_only)"
        " VALUES (?, 'bench', 'values', 'x', 0, ?, 0)",
        (CODE, _BENCH_NOW),
    )
    return _seq_appender(conn, _SQLITE[False])


def clustered(tmp: Path, synchronous: str, outbox: bool) -> Append:
    path = tmp / f"clustered{'-outbox' if outbox else ''}-{synchronous}.db"
    conn = _connect(path, synchronous)
    conn.execute(_CLUSTERED)
    if outbox:
        conn.execute(_OUTBOX)
    return _seq_appender(conn, _CLUSTERED_APPEND)


def reference(tmp: Path, synchronous: str) -> Append:
    from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteDatastore

    path = tmp / f"eventsourcing-{synchronous}.db"
    recorder = SQLiteAggregateRecorder(SQLiteDatastore(str(path)))
    recorder.create_table()
    conn = _connect(path, synchronous)
    cur = conn.cursor()
    aggregate = uuid.uuid4().hex

    def append(i: int, p: Prepared) -> None:
        body, topic = p.body(i + 1).encode(), f"cardsort:{p.event.type}"
        cur.execute("BEGIN")
        cur.execute(recorder.insert_events_statement, (aggregate, i + 1, topic, body))
        cur.execute("COMMIT")

    return append


LAYOUTS: dict[str, Callable[[Path, str], Append]] = {
    "ours": ours,
    "eventsourcing": reference,
    "clustered": lambda tmp, s: clustered(tmp, s, outbox=False),
    "clustered + outbox": lambda tmp, s: clustered(tmp, s, outbox=True),
}


def measure(tmp: Path, synchronous: str, per_round: int) -> dict[str, tuple[float, float]]:
    """{layout: (µs per append, KiB written per event)}, the layouts alternating round by round."""
    bodies = [Prepared(e) for e in session_log(per_round * ROUNDS)]
    appenders = {name: make(tmp, synchronous) for name, make in LAYOUTS.items()}
    seconds = dict.fromkeys(appenders, 0.0)
    written = dict.fromkeys(appenders, 0)
    for r in range(ROUNDS):
        for name in appenders if r % 2 == 0 else reversed(appenders):
            append = appenders[name]
            before, t0 = _written(), time.perf_counter()
            for i in range(r * per_round, (r + 1) * per_round):
                append(i, bodies[i])
            seconds[name] += time.perf_counter() - t0
            written[name] += _written() - before
    n = per_round * ROUNDS
    return {name: (seconds[name] / n * 1e6, written[name] / n / 1024) for name in appenders}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--appends", type=int, default=2_500, help="appends per layout per round")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: completes and prints its table")
    args = parser.parse_args()
    per_round = 25 if args.quick else args.appends
    table = Table(title=f"SQLite append, 1 writer, statement alone ({ROUNDS} × {per_round} per layout)")
    for column in ("synchronous", "layout", "µs per append", "KiB written per event", "rate ÷ eventsourcing"):
        table.add_column(column, justify="left" if column in ("synchronous", "layout") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        for synchronous in ("FULL", "OFF"):
            results = measure(Path(tmp), synchronous, per_round)
            ref_us = results["eventsourcing"][0]
            for name, (us, kib) in results.items():
                table.add_row(synchronous, name, f"{us:.1f}", f"{kib:.1f}", f"{ref_us / us:.2f}")
    Console(width=int(os.environ.get("COLUMNS", "120"))).print(table)


if __name__ == "__main__":
    main()
