"""SQL tables of the event store (plain SQLModel; the schema itself is created by Alembic only).

Constraint names are explicit so that migrations, downgrades and schema checks see the same names on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

#: SQLite only autoincrements an ``INTEGER PRIMARY KEY`` (rowid alias); PostgreSQL gets a 64-bit id.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_NOW = sa.text("CURRENT_TIMESTAMP")


def utcnow() -> datetime:
    """Timezone-aware 'now' for ``created_at`` columns."""
    return datetime.now(UTC)


def _created_at() -> Any:
    return Field(
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),
        sa_column_kwargs={"server_default": _NOW},
        nullable=False,
    )


class SessionRow(SQLModel, table=True):
    """One card-sort session. ``last_seq``: PostgreSQL's per-session sequence counter, whose row lock
    serializes the session's appends; SQLite (one writer) takes the next seq off the events' index and
    leaves it as created. The session's head is ``max(events.seq)`` on both (eventstore.py)."""

    __tablename__ = "sessions"
    __table_args__ = (sa.PrimaryKeyConstraint("code", name="pk_sessions"),)

    code: str = Field(sa_type=sa.String())
    title: str = Field(sa_type=sa.String(), nullable=False)
    deck: str = Field(sa_type=sa.String(), nullable=False)
    facilitator_key_hash: str = Field(sa_type=sa.String(), nullable=False)
    last_seq: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _created_at()
    # An imported session (POST /api/sessions/import) is a read-only record: no command may append to it.
    read_only: bool = Field(default=False, nullable=False, sa_column_kwargs={"server_default": sa.false()})


class ParticipantRow(SQLModel, table=True):
    """A participant's identity; only the hash of its secret token is stored."""

    __tablename__ = "participants"
    __table_args__ = (
        sa.PrimaryKeyConstraint("session_code", "participant_id", name="pk_participants"),
        sa.ForeignKeyConstraint(["session_code"], ["sessions.code"], name="fk_participants_session_code"),
    )

    session_code: str = Field(sa_type=sa.String())
    participant_id: str = Field(sa_type=sa.String())
    token_hash: str = Field(sa_type=sa.String(), nullable=False)
    created_at: datetime = _created_at()


class EventRow(SQLModel, table=True):
    """The log: one row per sequenced event; ``body`` is the event's full wire JSON (seq included)."""

    __tablename__ = "events"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["session_code"], ["sessions.code"], name="fk_events_session_code"),
        sa.UniqueConstraint("session_code", "seq", name="uq_events_session_code_seq"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        # No index of its own on session_code: the unique index above leads with it (migration 0003).
        # The outbox relay scans unpublished rows only; a partial index keeps that scan tiny.
        sa.Index(
            "ix_events_unpublished",
            "id",
            sqlite_where=sa.text("published = 0"),
            postgresql_where=sa.text("published = false"),
        ),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, nullable=False)
    session_code: str = Field(sa_type=sa.String(), nullable=False)
    seq: int = Field(nullable=False)
    event_id: str = Field(sa_type=sa.String(), nullable=False)
    type: str = Field(sa_type=sa.String(), nullable=False)
    participant_id: str = Field(sa_type=sa.String(), nullable=False)
    body: str = Field(sa_type=sa.Text, nullable=False)
    # The event schema version ``body`` was written in; readers upcast older ones (domain/upcasting.py).
    schema_version: int = Field(default=1, nullable=False, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = _created_at()
    published: bool = Field(default=False, nullable=False, sa_column_kwargs={"server_default": sa.false()})


class SnapshotRow(SQLModel, table=True):
    """``SessionState.to_dict()`` as JSON text at ``seq``; load = newest snapshot + events after it."""

    __tablename__ = "snapshots"
    __table_args__ = (
        sa.PrimaryKeyConstraint("session_code", "seq", name="pk_snapshots"),
        sa.ForeignKeyConstraint(["session_code"], ["sessions.code"], name="fk_snapshots_session_code"),
    )

    session_code: str = Field(sa_type=sa.String())
    seq: int = Field()
    state: str = Field(sa_type=sa.Text, nullable=False)
    created_at: datetime = _created_at()


sessions_table: sa.Table = SessionRow.__table__  # type: ignore[assignment]
participants_table: sa.Table = ParticipantRow.__table__  # type: ignore[assignment]
events_table: sa.Table = EventRow.__table__  # type: ignore[assignment]
snapshots_table: sa.Table = SnapshotRow.__table__  # type: ignore[assignment]

STORE_TABLES: tuple[str, ...] = ("sessions", "participants", "events", "snapshots")
