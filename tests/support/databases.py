"""Throwaway databases for tests: a SQLite file, or a fresh schema in the PostgreSQL test database.

PostgreSQL is required: when it is unreachable the tests that need it fail loudly, they never skip.
Its URL is ``TEST_DATABASE_URL``, or a private server started for the run (tests/support/services.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from cardsort_app.store import migrate
from tests.support.services import database_url as pg_url

BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


def pg_admin_engine() -> sa.Engine:
    engine = sa.create_engine(pg_url(), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        shown = sa.make_url(pg_url()).render_as_string(hide_password=True)
        pytest.fail(f"PostgreSQL at {shown} (TEST_DATABASE_URL) is unreachable: {exc}", pytrace=False)
    return engine


class Database:
    """A blank database: ``url`` points at it (a schema via ``search_path`` on PostgreSQL); ``drop()``
    removes it."""

    def __init__(self, backend: str, tmp_dir: Path, prefix: str = "test", migrated: bool = False) -> None:
        self.backend = backend
        self._schema: str | None = None
        if backend == "sqlite":
            self.url = f"sqlite:///{tmp_dir / f'{prefix}.db'}"
        else:
            self._admin = pg_admin_engine()
            self._schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
            with self._admin.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{self._schema}"'))
            url = sa.make_url(pg_url()).update_query_dict({"options": f"-csearch_path={self._schema}"})
            self.url = url.render_as_string(hide_password=False)
        if migrated:
            migrate.upgrade(self.url)

    def drop(self) -> None:
        if self._schema:
            with self._admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self._schema}" CASCADE'))
            self._admin.dispose()
