"""Alembic environment of the Cardsort event store.

The database URL comes from the caller, first match wins: ``config.attributes["url"]`` (programmatic,
see ``cardsort_app.store.migrate``), ``-x url=...`` on the command line, the ``DATABASE_URL``
environment variable, then the embedded default ``sqlite:///data/cardsort.db``.
"""

from __future__ import annotations

import sys
from logging.config import fileConfig
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import pool

from alembic import context

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from cardsort_app.settings import load_settings  # noqa: E402
from cardsort_app.store.migrate import ensure_sqlite_dir  # noqa: E402
from cardsort_app.store.tables import SQLModel  # noqa: E402

config = context.config

# Only the CLI configures logging; programmatic runs (no ini file) leave the host's logging alone.
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata

# Serializes concurrent `upgrade` calls of several app workers on PostgreSQL (arbitrary constant).
_PG_MIGRATION_LOCK = 0x0CA7D5027


def _url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    return str(url or load_settings().database_url)


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds the table
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``)."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: sa.Connection, **kwargs: object) -> None:
    _configure(connection=connection, **kwargs)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        context.run_migrations()


def _engine(url: str) -> sa.Engine:
    """A throwaway engine; on SQLite every migration run is one ``BEGIN IMMEDIATE`` transaction, so
    concurrent runs (several processes starting at once) serialize and a failed run leaves nothing."""
    ensure_sqlite_dir(url)
    engine = sa.create_engine(url, poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, DDL included
            dbapi_conn.execute("PRAGMA busy_timeout = 60000")

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def run_migrations_online() -> None:
    """Migrate through the caller's connection if given, else a throwaway engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = _engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn, transactional_ddl=True)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
