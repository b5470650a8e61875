"""The schema exists only through Alembic: upgrade creates it, downgrade removes it, and it matches the
SQLModel tables exactly."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from cardsort_app.store import migrate
from cardsort_app.store.eventstore import EventStore
from cardsort_app.store.tables import STORE_TABLES

from .conftest import Database
from .helpers import created, current_revision, head_revision, new_code


def _inspect(url: str):
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            tables = set(insp.get_table_names())
            info = {}
            for t in tables & set(STORE_TABLES):
                info[t] = {
                    "pk": (
                        insp.get_pk_constraint(t)["name"],
                        tuple(insp.get_pk_constraint(t)["constrained_columns"]),
                    ),
                    "uq": {u["name"]: tuple(u["column_names"]) for u in insp.get_unique_constraints(t)},
                    "fk": {
                        f["name"]: (tuple(f["constrained_columns"]), f["referred_table"])
                        for f in insp.get_foreign_keys(t)
                    },
                    "ix": {
                        i["name"]: tuple(i["column_names"])
                        for i in insp.get_indexes(t)
                        if not i.get("unique")
                    },
                }
            return tables, info
    finally:
        engine.dispose()


EXPECTED = {
    "sessions": {"pk": ("pk_sessions", ("code",)), "uq": {}, "fk": {}, "ix": {}},
    "participants": {
        "pk": ("pk_participants", ("session_code", "participant_id")),
        "uq": {},
        "fk": {"fk_participants_session_code": (("session_code",), "sessions")},
        "ix": {},
    },
    "events": {
        "pk": ("pk_events", ("id",)),
        "uq": {"uq_events_session_code_seq": ("session_code", "seq"), "uq_events_event_id": ("event_id",)},
        "fk": {"fk_events_session_code": (("session_code",), "sessions")},
        "ix": {"ix_events_unpublished": ("id",)},
    },
    "snapshots": {
        "pk": ("pk_snapshots", ("session_code", "seq")),
        "uq": {},
        "fk": {"fk_snapshots_session_code": (("session_code",), "sessions")},
        "ix": {},
    },
}


def _assert_schema(url: str) -> None:
    tables, info = _inspect(url)
    assert set(STORE_TABLES) <= tables
    if sa.make_url(url).get_backend_name() == "sqlite":
        # SQLite reflects unnamed PKs; the columns are what matter there.
        for t in info:
            info[t]["pk"] = (EXPECTED[t]["pk"][0], info[t]["pk"][1])
    assert info == EXPECTED


def test_upgrade_downgrade_upgrade(blank_db: Database) -> None:
    url = blank_db.url
    assert current_revision(url) is None
    migrate.upgrade(url)
    assert current_revision(url) == head_revision()
    _assert_schema(url)

    migrate.downgrade(url)
    tables, _ = _inspect(url)
    assert tables.isdisjoint(STORE_TABLES)
    assert current_revision(url) is None

    migrate.upgrade(url)
    migrate.upgrade(url)  # idempotent
    _assert_schema(url)
    with EventStore(url) as store:  # and the schema works
        code = new_code()
        store.create_session(code, "t", "values-mini", "h")
        assert store.append(created(code)).seq == 1


def test_migration_matches_sqlmodel_tables(blank_db: Database) -> None:
    migrate.upgrade(blank_db.url)
    engine = sa.create_engine(blank_db.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _parent: kind != "table" or name in STORE_TABLES,
                },
            )
            diff = compare_metadata(ctx, SQLModel.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_constraints_are_enforced(blank_db: Database) -> None:
    migrate.upgrade(blank_db.url)
    engine = sa.create_engine(blank_db.url, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(engine, "connect")
    def _fk_on(dbapi_conn, _rec):  # SQLite enforces foreign keys only when asked (the store always asks)
        if blank_db.backend == "sqlite":
            dbapi_conn.execute("PRAGMA foreign_keys = ON")

    insert_event = sa.text(
        "INSERT INTO events (session_code, seq, event_id, type, participant_id, body)"
        " VALUES (:session_code, :seq, :event_id, :type, :participant_id, :body)"
    )
    insert_session = sa.text(
        "INSERT INTO sessions (code, title, deck, facilitator_key_hash) VALUES ('ABCD', 't', 'd', 'h')"
    )
    row = {
        "session_code": "ABCD",
        "seq": 1,
        "event_id": "e1",
        "type": "X",
        "participant_id": "p",
        "body": "{}",
    }

    def rejected(stmt: sa.TextClause, params: dict | None = None) -> None:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(stmt, params)

    try:
        rejected(insert_event, row)  # FK events.session_code -> sessions.code
        with engine.begin() as conn:
            conn.execute(insert_session)
            conn.execute(insert_event, row)
        rejected(insert_session)  # PK sessions.code
        rejected(insert_event, {**row, "event_id": "e2"})  # UNIQUE(session_code, seq)
        rejected(insert_event, {**row, "seq": 2})  # UNIQUE(event_id)
        with engine.connect() as conn:  # server defaults
            published, created_at = conn.execute(sa.text("SELECT published, created_at FROM events")).one()
            assert published in (False, 0) and created_at is not None
            assert conn.execute(sa.text("SELECT last_seq FROM sessions")).scalar_one() == 0
    finally:
        engine.dispose()


def test_upgrade_from_any_cwd_and_default_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    migrate.upgrade("sqlite:///data/nested/cardsort.db")  # creates the directory like a fresh checkout needs
    assert (tmp_path / "data" / "nested" / "cardsort.db").exists()
    _assert_schema(f"sqlite:///{tmp_path / 'data' / 'nested' / 'cardsort.db'}")


def test_alembic_cli_takes_url_from_x_argument_and_env(tmp_path: Path) -> None:
    ini = migrate.REPO_ROOT / "alembic.ini"
    alembic = [sys.executable, "-m", "alembic", "-c", str(ini)]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    x_db, env_db = tmp_path / "x.db", tmp_path / "env.db"
    subprocess.run(
        [*alembic, "-x", f"url=sqlite:///{x_db}", "upgrade", "head"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*alembic, "upgrade", "head"],
        cwd="/",
        env={**env, "DATABASE_URL": f"sqlite:///{env_db}"},
        check=True,
        capture_output=True,
    )
    _assert_schema(f"sqlite:///{x_db}")
    _assert_schema(f"sqlite:///{env_db}")


_barrier = None


def _init(barrier) -> None:
    global _barrier
    _barrier = barrier


def _upgrade_at_once(url: str) -> str | None:
    _barrier.wait(timeout=60)
    migrate.upgrade(url)
    return current_revision(url)


def test_concurrent_upgrades_serialize(blank_db: Database) -> None:
    """Several app workers migrating at start-up: one creates the schema, the others find it done."""
    ctx = multiprocessing.get_context("spawn")
    n = 4
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init, initargs=(ctx.Barrier(n),)) as pool:
        revs = list(pool.map(_upgrade_at_once, [blank_db.url] * n, timeout=120))
    assert revs == [head_revision()] * n
    _assert_schema(blank_db.url)
    engine = sa.create_engine(blank_db.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        engine.dispose()
