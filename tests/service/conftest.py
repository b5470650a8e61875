"""Fixtures: the service layer on a real database, SQLite (a tmp file) and PostgreSQL (a throwaway schema).

Each test module gets one migrated database per backend; each test builds its own runtime on it
(``runtime.build(url)``: store, InProcessBus, hub, presence, service) and uses its own session codes.
PostgreSQL is required: when it is unreachable the PG tests fail, they never skip.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa

from cardsort_app.service.runtime import Runtime, build
from cardsort_app.store import migrate
from tests.conftest import PG_URL

BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


def _pg_admin() -> sa.Engine:
    engine = sa.create_engine(PG_URL, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        shown = sa.make_url(PG_URL).render_as_string(hide_password=True)
        pytest.fail(f"PostgreSQL at {shown} (DATABASE_URL_TEST) is unreachable: {exc}", pytrace=False)
    return engine


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database shared by one test module (every test makes its own sessions)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('service-sqlite') / 'cardsort.db'}"
        migrate.upgrade(url)
        yield url
        return
    admin = _pg_admin()
    schema = f"service_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        rendered = url.render_as_string(hide_password=False)
        migrate.upgrade(rendered)
        yield rendered
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


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
