"""Our event store beside the `eventsourcing` package's recorders, on the same SQLite and PostgreSQL.

The reference is `eventsourcing`'s aggregate recorder (`SQLiteAggregateRecorder`,
`PostgresAggregateRecorder`: `UNIQUE(originator_id, originator_version)`, one insert per call), fed the same
events serialised as our wire JSON. Ours is `EventStore.append` (the session's next gapless `seq`,
`UNIQUE(session_code, seq)` and `UNIQUE(event_id)`; concurrent appends share a commit, see
`cardsort_app/store/group_commit.py`; each returns only once its event is committed). Measured:

* append throughput, 1 writer and 8 writers (threads, one aggregate/session each), events/s;
* loading one 10k-event aggregate: ours `events_after(code, 0)` (typed, validated pydantic events) beside
  `select_events` + `json.loads` of each event's state (plain dicts: less work than ours).

Same durability on both sides. SQLite: the reference sets WAL and leaves `synchronous` at SQLite's
default, FULL (an fsync per commit); ours runs here with WAL + FULL too (the app's default is NORMAL:
survives a killed process, not a power cut). PostgreSQL: both at the server's defaults
(`synchronous_commit = on`, READ COMMITTED); the reference inserts in autocommit, ours stores a group in
one autocommit statement.

A benchmark-only dependency: `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from cardsort_app.domain.events import Event

WRITERS = (1, 8)


def _rate(n: int, writers: int, append_one: Callable[[int, int], None]) -> float:
    """Events/s with `writers` threads each appending n // writers events: append_one(writer, i)."""
    per = max(1, n // writers)
    start = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        start.wait()
        try:
            for i in range(per):
                append_one(w, i)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return per * writers / elapsed


def _median_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _events(log: list[Event], code: str, n: int) -> list[Event]:
    return [
        e.model_copy(update={"session_code": code, "seq": None, "id": f"{code}-{i}"})
        for i, e in enumerate(log[:n])
    ]


def ours(url: str, log: list[Event], appends: int, load_size: int, tag: str) -> dict[str, float]:
    from cardsort_app.store import migrate
    from cardsort_app.store.eventstore import EventStore

    migrate.upgrade(url)
    # No snapshots: the same work as the reference; FULL: the reference's durability (module doc).
    store = EventStore(url, snapshot_every=10**9, sqlite_synchronous="FULL")
    out: dict[str, float] = {}
    for writers in WRITERS:
        codes = [f"O{tag}{writers}W{w}" for w in range(writers)]
        batches = {}
        for code in codes:
            store.create_session(code, "bench", "values", "x")
            batches[code] = _events(log, code, appends // writers + 1)
        out[f"append, {writers} writer(s): events/s"] = _rate(
            appends, writers, lambda w, i, codes=codes, batches=batches: store.append(batches[codes[w]][i])
        )
    code = f"O{tag}LOAD"
    store.create_session(code, "bench", "values", "x")
    events = _events(log, code, load_size)
    for i in range(0, len(events), 1000):
        store.append_many(events[i : i + 1000])
    assert len(store.events_after(code, 0)) == load_size
    out[f"load a {load_size // 1000}k-event aggregate: ms"] = _median_ms(lambda: store.events_after(code, 0))
    store.dispose()
    return out


def reference(recorder, log: list[Event], appends: int, load_size: int) -> dict[str, float]:
    from eventsourcing.persistence import StoredEvent

    def stored(ids: uuid.UUID, version: int, e: Event) -> StoredEvent:
        return StoredEvent(ids, version, f"cardsort:{e.type}", e.model_dump_json(by_alias=True).encode())

    out: dict[str, float] = {}
    for writers in WRITERS:
        ids = [uuid.uuid4() for _ in range(writers)]
        per = appends // writers + 1
        batches = [[stored(ids[w], i + 1, e) for i, e in enumerate(log[:per])] for w in range(writers)]
        out[f"append, {writers} writer(s): events/s"] = _rate(
            appends, writers, lambda w, i, b=batches: recorder.insert_events([b[w][i]])
        )
    aggregate = uuid.uuid4()
    events = [stored(aggregate, i + 1, e) for i, e in enumerate(log[:load_size])]
    for i in range(0, len(events), 1000):
        recorder.insert_events(events[i : i + 1000])

    def load() -> list[dict]:
        return [json.loads(s.state) for s in recorder.select_events(aggregate)]

    assert len(load()) == load_size
    out[f"load a {load_size // 1000}k-event aggregate: ms"] = _median_ms(load)
    return out


def compare(tmp: Path, log: list[Event], appends: int, load_size: int, postgres: bool) -> dict[str, float]:
    """Each measure for ours, for eventsourcing and their ratio, on SQLite (and PostgreSQL)."""
    from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteDatastore

    results: dict[str, float] = {}

    def put(db: str, mine: dict[str, float], ref: dict[str, float]) -> None:
        for name, value in mine.items():
            results[f"{db} {name} — ours"] = value
            results[f"{db} {name} — eventsourcing"] = ref[name]
            higher_is_better = "/s" in name
            ratio = value / ref[name] if higher_is_better else ref[name] / value
            results[f"{db} {name} — ours ÷ eventsourcing (> 1: ours faster)"] = ratio

    datastore = SQLiteDatastore(str(tmp / "es.db"), lock_timeout=30)
    recorder = SQLiteAggregateRecorder(datastore)
    recorder.create_table()
    put(
        "sqlite",
        ours(f"sqlite:///{tmp / 'ours.db'}", log, appends, load_size, "S"),
        reference(recorder, log, appends, load_size),
    )
    datastore.close()
    if postgres:
        from eventsourcing.postgres import PostgresAggregateRecorder, PostgresDatastore

        from tests.support.databases import Database, pg_url

        mine = Database("postgresql", tmp, prefix="bench_ours")
        ref_db = Database("postgresql", tmp, prefix="bench_es")
        url = sa.make_url(pg_url())
        try:
            datastore = PostgresDatastore(
                url.database or "test",
                url.host or "127.0.0.1",
                url.port or 5432,
                url.username or "postgres",
                url.password or "",
                pool_size=8,
                max_overflow=8,
                schema=ref_db._schema or "",
            )
            recorder = PostgresAggregateRecorder(datastore, events_table_name="stored_events")
            recorder.create_table()
            put(
                "postgres",
                ours(mine.url, log, appends, load_size, "P"),
                reference(recorder, log, appends, load_size),
            )
            datastore.close()
        finally:
            mine.drop()
            ref_db.drop()
    return results
