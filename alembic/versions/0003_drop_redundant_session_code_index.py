"""drop ix_events_session_code: UNIQUE(session_code, seq) already serves every lookup by session

Every append wrote one more index page for it (a WAL frame per commit on SQLite) and no query needs it:
the unique index's leading column is ``session_code``.

Revision ID: 0003_drop_session_code_index
Revises: 0002_schema_version_read_only
Create Date: 2026-11-30 12:10:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_drop_session_code_index"
down_revision: str | Sequence[str] | None = "0002_schema_version_read_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_events_session_code", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_session_code", "events", ["session_code"])
