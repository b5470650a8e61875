"""event store: sessions, participants, events, snapshots

Revision ID: 0001_event_store
Revises:
Create Date: 2025-11-26 22:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001_event_store"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("CURRENT_TIMESTAMP")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("deck", sa.String(), nullable=False),
        sa.Column("facilitator_key_hash", sa.String(), nullable=False),
        sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_sessions"),
    )
    op.create_table(
        "participants",
        sa.Column("session_code", sa.String(), nullable=False),
        sa.Column("participant_id", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("session_code", "participant_id", name="pk_participants"),
        sa.ForeignKeyConstraint(["session_code"], ["sessions.code"], name="fk_participants_session_code"),
    )
    op.create_table(
        "events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("session_code", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("participant_id", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.Column("published", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["session_code"], ["sessions.code"], name="fk_events_session_code"),
        sa.UniqueConstraint("session_code", "seq", name="uq_events_session_code_seq"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    )
    op.create_index("ix_events_session_code", "events", ["session_code"])
    op.create_index(
        "ix_events_unpublished",
        "events",
        ["id"],
        sqlite_where=sa.text("published = 0"),
        postgresql_where=sa.text("published = false"),
    )
    op.create_table(
        "snapshots",
        sa.Column("session_code", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("session_code", "seq", name="pk_snapshots"),
        sa.ForeignKeyConstraint(["session_code"], ["sessions.code"], name="fk_snapshots_session_code"),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
    op.drop_index("ix_events_unpublished", table_name="events")
    op.drop_index("ix_events_session_code", table_name="events")
    op.drop_table("events")
    op.drop_table("participants")
    op.drop_table("sessions")
