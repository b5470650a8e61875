"""events.schema_version (event schema versions) and sessions.read_only (imported sessions)

Revision ID: 0002_schema_version_read_only
Revises: 0001_event_store
Create Date: 2026-11-30 06:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_schema_version_read_only"
down_revision: str | Sequence[str] | None = "0001_event_store"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every event stored before this migration was written in schema version 1.
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("schema_version", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("read_only", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("read_only")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("schema_version")
