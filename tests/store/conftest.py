"""Fixtures: every store test runs on SQLite (a tmp file) and on PostgreSQL (a throwaway schema).

PostgreSQL is required: if it is unreachable the PG fixtures fail loudly instead of skipping.
``TEST_DATABASE_URL`` names an existing PostgreSQL; unset, the run starts its own (tests/support/services.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cardsort_app.store import migrate
from cardsort_app.store.eventstore import EventStore
from tests.support.databases import BACKENDS, Database


def make_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Database:
    return Database(backend, tmp_path_factory.mktemp(f"db-{backend}"), prefix="store_test")


@pytest.fixture(params=BACKENDS)
def blank_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A database without any tables (migration tests)."""
    db = make_database(request.param, tmp_path_factory)
    yield db
    db.drop()


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database shared by one test module (tests use their own session codes)."""
    db = make_database(request.param, tmp_path_factory)
    migrate.upgrade(db.url)
    yield db.url
    db.drop()


@pytest.fixture
def store(db_url: str) -> Iterator[EventStore]:
    s = EventStore(db_url, snapshot_every=10)
    yield s
    s.dispose()
