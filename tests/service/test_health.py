"""The store's health probe fails for a database that answers but has lost its schema (both backends).

Its own module: it drops the tables of the module's database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cardsort_app.service.runtime import Runtime


async def test_ping_needs_the_schema(rt: Runtime, db_url: str) -> None:
    await rt.store.ping()
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for table in ("snapshots", "events", "participants", "sessions", "alembic_version"):
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))
    engine.dispose()
    with pytest.raises(Exception, match="sessions"):
        await rt.store.ping()
