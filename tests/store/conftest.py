"""Fixtures: every store test runs on SQLite (a tmp file) and on PostgreSQL (a throwaway schema).

PostgreSQL is required: if it is unreachable the PG fixtures fail loudly instead of skipping.
``DATABASE_URL_TEST`` overrides the PostgreSQL URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from cardsort_app.store import migrate
from cardsort_app.store.eventstore import EventStore

PG_URL = os.environ.get("DATABASE_URL_TEST", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


def _pg_admin_engine() -> sa.Engine:
    engine = sa.create_engine(PG_URL, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        shown = sa.make_url(PG_URL).render_as_string(hide_password=True)
        pytest.fail(f"PostgreSQL at {shown} (DATABASE_URL_TEST) is unreachable: {exc}", pytrace=False)
    return engine


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    engine = _pg_admin_engine()
    yield engine
    engine.dispose()


class Database:
    """A blank database for one test module: ``url`` points at it, ``drop()`` removes it."""

    def __init__(self, backend: str, tmp_dir, pg_admin_factory) -> None:
        self.backend = backend
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp_dir / 'store.db'}"
            self._schema = None
        else:
            self._admin: sa.Engine = pg_admin_factory()
            self._schema = f"store_test_{uuid.uuid4().hex[:12]}"
            with self._admin.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{self._schema}"'))
            url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={self._schema}"})
            self.url = url.render_as_string(hide_password=False)

    def drop(self) -> None:
        if self._schema:
            with self._admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE'))


def make_database(backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    return Database(
        backend, tmp_path_factory.mktemp(f"db-{backend}"), lambda: request.getfixturevalue("pg_admin")
    )


@pytest.fixture(params=BACKENDS)
def blank_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A database without any tables (migration tests)."""
    db = make_database(request.param, tmp_path_factory, request)
    yield db
    db.drop()


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database shared by one test module (tests use their own session codes)."""
    db = make_database(request.param, tmp_path_factory, request)
    migrate.upgrade(db.url)
    yield db.url
    db.drop()


@pytest.fixture
def store(db_url: str) -> Iterator[EventStore]:
    s = EventStore(db_url, snapshot_every=10)
    yield s
    s.dispose()
