"""Run the Alembic migrations programmatically: the only way the schema comes into existence."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

#: Repository root: alembic/ and alembic.ini live beside the cardsort_app package.
REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT_LOCATION = REPO_ROOT / "alembic"


def ensure_sqlite_dir(url: str | sa.URL) -> None:
    """Create the parent directory of a SQLite file so a fresh checkout works without setup."""
    u = sa.make_url(url)
    db = u.database or ""
    if u.get_backend_name() == "sqlite" and db and db != ":memory:" and not db.startswith("file:"):
        Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _config(url: str, connection: sa.Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()  # no ini file: env.py then leaves the host's logging configuration alone
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["url"] = url
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str, rev: str = "head", connection: sa.Connection | None = None) -> None:
    """Migrate the database at ``url`` up to ``rev`` (idempotent; safe for concurrent PG workers)."""
    from alembic import command

    command.upgrade(_config(url, connection), rev)


def downgrade(url: str, rev: str = "base", connection: sa.Connection | None = None) -> None:
    """Migrate the database at ``url`` down to ``rev`` (``base`` drops every store table)."""
    from alembic import command

    command.downgrade(_config(url, connection), rev)


if __name__ == "__main__":  # python -m cardsort_app.store.migrate [url]  (default: DATABASE_URL)
    import sys

    from cardsort_app.settings import load_settings

    target = sys.argv[1] if len(sys.argv) > 1 else load_settings().database_url
    upgrade(target)
