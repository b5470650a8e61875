"""Retention: delete every session (events, snapshots, participants) whose newest event is older than N
days. Run it from cron; it needs only DATABASE_URL:

    python -m cardsort_app.store.retention purge [--days N] [--dry-run]   (default: CARDSORT_RETENTION_DAYS)
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from cardsort_app.settings import load_settings
from cardsort_app.store import migrate
from cardsort_app.store.eventstore import EventStore


def purge(database_url: str, days: float, dry_run: bool = False, now: datetime | None = None) -> list[str]:
    """Delete every session whose newest event is older than ``days``; returns the codes."""
    migrate.upgrade(database_url)
    before = (now or datetime.now(UTC)) - timedelta(days=days)
    with EventStore(database_url) as store:
        codes = store.expired_sessions(before)
        if not dry_run:
            for code in codes:
                store.delete_session(code)
    return codes


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m cardsort_app.store.retention")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("purge", help="delete sessions idle for longer than the retention period")
    p.add_argument("--days", type=float, default=settings.retention_days, help="retention period in days")
    p.add_argument("--dry-run", action="store_true", help="list the sessions, delete nothing")
    args = parser.parse_args(argv)
    if args.days < 0:
        parser.error("--days must be >= 0")
    codes = purge(settings.database_url, args.days, args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {len(codes)} session(s) idle for more than {args.days:g} days{': ' if codes else ''}"
        + " ".join(codes)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
