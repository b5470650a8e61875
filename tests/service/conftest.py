"""Fixtures: the service layer on a real database, SQLite (a tmp file) and PostgreSQL (a throwaway schema).

Each test module gets one migrated database per backend; each test builds its own runtime on it
(``bootstrap.build(url)``: store, InProcessBus and its presence, hub, relay, service) and uses its own
session codes.
PostgreSQL is required: when it is unreachable the PG tests fail, they never skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from cardsort_app.bootstrap import build
from cardsort_app.service.runtime import Runtime
from tests.support.databases import BACKENDS, Database


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database shared by one test module (every test makes its own sessions)."""
    db = Database(request.param, tmp_path_factory.mktemp(f"service-{request.param}"), "service_test", True)
    yield db.url
    db.drop()


@pytest.fixture
async def rt(db_url: str) -> AsyncIterator[Runtime]:
    """A runtime (one "worker") on the module's database."""
    runtime = build(db_url)
    yield runtime
    await runtime.close()


@pytest.fixture
async def second_worker(db_url: str) -> AsyncIterator[Runtime]:
    """Another worker on the same database, with its own hub and its own InProcessBus: it never hears
    what the first worker publishes, so it only learns about those events from the log."""
    runtime = build(db_url)
    yield runtime
    await runtime.close()
