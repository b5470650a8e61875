"""Our event store beside the `eventsourcing` package's recorders, on the same SQLite and PostgreSQL.

The reference is `eventsourcing`'s aggregate recorder (`SQLiteAggregateRecorder`,
`PostgresAggregateRecorder`: `UNIQUE(originator_id, originator_version)`, one insert per call). Both sides
are handed the same typed events, and each append ends with the event stored: the reference's append
serialises it as JSON (pydantic's, by alias) into a `StoredEvent` and inserts that (until 2026-11-30 the
bytes were made before the clock started, which left the reference's serialisation unmeasured). Ours is
`EventStore.append` (it validates and serialises the event, then stores it under the session's next
gapless `seq`, `UNIQUE(session_code, seq)` and `UNIQUE(event_id)`; concurrent appends share a commit, see
`cardsort_app/store/group_commit.py`; each returns only once its event is committed). Measured:

* append throughput, 1 writer and 8 writers (threads, one aggregate/session each), events/s, ours and
  the reference alternating in `ROUNDS` rounds (the load on a shared machine drifts within seconds);
* on SQLite, the bytes each side's appends caused to be written to storage per event (Linux's
  ``/proc/self/io``): with one writer every append is its own commit and fsync, so this is what the disk
  takes per event (ours writes four B-trees per event: the table, ``UNIQUE(session_code, seq)``,
  ``UNIQUE(event_id)`` and the outbox's partial index; the reference one);
* loading one 10k-event aggregate: ours `events_after(code, 0)` (typed, validated pydantic events) beside
  `select_events` + `json.loads` of each event's state (plain dicts: less work than ours); alternating,
  median of 5 each.

Same durability on both sides. SQLite: the reference sets WAL and leaves `synchronous` at SQLite's
default, FULL (an fsync per commit); ours runs here with WAL + FULL too (the app's default is NORMAL:
survives a killed process, not a power cut). PostgreSQL: both at the server's defaults
(`synchronous_commit = on`, READ COMMITTED); the reference inserts in autocommit, ours stores a group in
one autocommit statement. SQLite: the reference runs BEGIN / INSERT / COMMIT per call, ours one
autocommit INSERT per lone event (a group: one BEGIN IMMEDIATE transaction).

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
#: Each append measure alternates ours and the reference in this many rounds (the machine's load drifts
#: within seconds here: interleaving gives both sides the same conditions).
ROUNDS = 4

Appender = Callable[[int, int], None]  # append_one(writer, i)


def _written() -> int:
    """Bytes this process has caused to be written to storage so far (Linux's ``/proc/self/io``
    ``write_bytes``: what reached the block layer, WAL frames, checkpoints and all); 0 elsewhere."""
    try:
        with open("/proc/self/io") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("write_bytes:"))
    except (OSError, StopIteration, ValueError):
        return 0


def _rate(n: int, writers: int, append_one: Appender, offset: int = 0) -> tuple[int, float, int]:
    """(events, seconds, bytes written) with `writers` threads each appending n // writers events:
    append_one(w, i) for i in offset .. offset + n // writers."""
    per = max(1, n // writers)
    start = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        start.wait()
        try:
            for i in range(offset, offset + per):
                append_one(w, i)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    written = _written()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return per * writers, elapsed, _written() - written


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


class Ours:
    """Our EventStore on `url`: appenders for N writers (a session each), and a loaded aggregate."""

    def __init__(self, url: str, log: list[Event], tag: str) -> None:
        from cardsort_app.store import migrate
        from cardsort_app.store.eventstore import EventStore

        migrate.upgrade(url)
        # No snapshots: the same work as the reference; FULL: the reference's durability (module doc).
        self.store = EventStore(url, snapshot_every=10**9, sqlite_synchronous="FULL")
        self.log, self.tag = log, tag

    def appender(self, writers: int, per: int) -> Appender:
        codes = [f"O{self.tag}{writers}W{w}" for w in range(writers)]
        batches = []
        for code in codes:
            self.store.create_session(code, "bench", "values", "x")
            batches.append(_events(self.log, code, per))
        return lambda w, i: self.store.append(batches[w][i])  # type: ignore[func-returns-value]

    def loader(self, size: int) -> Callable[[], object]:
        code = f"O{self.tag}LOAD"
        self.store.create_session(code, "bench", "values", "x")
        events = _events(self.log, code, size)
        for i in range(0, len(events), 1000):
            self.store.append_many(events[i : i + 1000])
        assert len(self.store.events_after(code, 0)) == size
        return lambda: self.store.events_after(code, 0)

    def close(self) -> None:
        self.store.dispose()


class Reference:
    """`eventsourcing`'s aggregate recorder, fed the same events (our wire JSON as the state)."""

    def __init__(self, recorder, log: list[Event]) -> None:  # noqa: ANN001 - eventsourcing's recorder
        self.recorder, self.log = recorder, log

    def _stored(self, aggregate: uuid.UUID, version: int, e: Event):  # noqa: ANN202
        from eventsourcing.persistence import StoredEvent

        return StoredEvent(
            aggregate, version, f"cardsort:{e.type}", e.model_dump_json(by_alias=True).encode()
        )

    def appender(self, writers: int, per: int) -> Appender:
        """Each call stores one of the same events ours is handed: serialising it (pydantic's JSON, what
        the recorder stores) is part of the append, as it is of ours and of any application using it."""
        ids = [uuid.uuid4() for _ in range(writers)]
        events = self.log[:per]
        return lambda w, i: self.recorder.insert_events([self._stored(ids[w], i + 1, events[i])])

    def loader(self, size: int) -> Callable[[], object]:
        aggregate = uuid.uuid4()
        events = [self._stored(aggregate, i + 1, e) for i, e in enumerate(self.log[:size])]
        for i in range(0, len(events), 1000):
            self.recorder.insert_events(events[i : i + 1000])

        def load() -> list[dict]:
            return [json.loads(s.state) for s in self.recorder.select_events(aggregate)]

        assert len(load()) == size
        return load


def _measure(
    mine: Ours, ref: Reference, appends: int, load_size: int, local_disk: bool = False
) -> tuple[dict, dict]:
    """Both sides' figures; appends interleaved round by round, loads one after the other. With
    `local_disk` (SQLite: this process writes the files), also the bytes written to storage per event."""
    out_mine: dict[str, float] = {}
    out_ref: dict[str, float] = {}
    for writers in WRITERS:
        per_round = max(1, appends // writers // ROUNDS)
        total = per_round * ROUNDS + 1
        sides = [(mine.appender(writers, total), [0, 0.0, 0]), (ref.appender(writers, total), [0, 0.0, 0])]
        for r in range(ROUNDS):
            for append_one, acc in sides if r % 2 == 0 else reversed(sides):
                n, seconds, written = _rate(per_round * writers, writers, append_one, offset=r * per_round)
                acc[0] += n
                acc[1] += seconds
                acc[2] += written
        name = f"append, {writers} writer(s): events/s"
        out_mine[name] = sides[0][1][0] / sides[0][1][1]
        out_ref[name] = sides[1][1][0] / sides[1][1][1]
        if local_disk and sides[1][1][2]:  # 0: no /proc/self/io here
            name = f"append, {writers} writer(s): KiB written to storage per event"
            out_mine[name] = sides[0][1][2] / sides[0][1][0] / 1024
            out_ref[name] = sides[1][1][2] / sides[1][1][0] / 1024
    name = f"load a {load_size // 1000}k-event aggregate: ms"
    load_mine, load_ref = mine.loader(load_size), ref.loader(load_size)
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(5):  # alternating, as the appends
        times[0].append(_median_ms(load_mine, repeat=1))
        times[1].append(_median_ms(load_ref, repeat=1))
    out_mine[name] = statistics.median(times[0])
    out_ref[name] = statistics.median(times[1])
    return out_mine, out_ref


def compare(tmp: Path, log: list[Event], appends: int, load_size: int, postgres: bool) -> dict[str, float]:
    """Each measure for ours, for eventsourcing and their ratio, on SQLite (and PostgreSQL)."""
    from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteDatastore

    results: dict[str, float] = {}

    def put(db: str, mine: dict[str, float], ref: dict[str, float]) -> None:
        for name, value in mine.items():
            results[f"{db} {name} — ours"] = value
            results[f"{db} {name} — eventsourcing"] = ref[name]
            if "/s" in name:  # a rate: higher is better
                results[f"{db} {name} — ours ÷ eventsourcing (> 1: ours faster)"] = value / ref[name]
            elif "KiB" in name:  # what the disk has to take: the explanation of the 1-writer rate
                results[f"{db} {name} — ours ÷ eventsourcing"] = value / ref[name]
            else:  # a time
                results[f"{db} {name} — ours ÷ eventsourcing (> 1: ours faster)"] = ref[name] / value

    datastore = SQLiteDatastore(str(tmp / "es.db"), lock_timeout=30)
    recorder = SQLiteAggregateRecorder(datastore)
    recorder.create_table()
    mine = Ours(f"sqlite:///{tmp / 'ours.db'}", log, "S")
    put("sqlite", *_measure(mine, Reference(recorder, log), appends, load_size, local_disk=True))
    mine.close()
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
            ours = Ours(mine.url, log, "P")
            put("postgres", *_measure(ours, Reference(recorder, log), appends, load_size))
            ours.close()
            datastore.close()
        finally:
            mine.drop()
            ref_db.drop()
    return results
