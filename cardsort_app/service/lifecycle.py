"""Session lifecycle: sessions left idle are ended; after the retention period their data is deleted.

* Idle end: a session whose newest event is older than ``CARDSORT_IDLE_END_MINUTES`` (default 240; 0 turns
  it off) gets a SESSION_ENDED with reason ``idle`` -- an event like any other, so every board shows it.
  Every worker sweeps (once a minute); the append is decided in the log's transaction, so two workers
  ending the same session append it once (the second decision sees it ended and appends nothing).
* Retention: ``python -m cardsort_app.service.lifecycle purge [--days N] [--dry-run]`` deletes every
  session (events, snapshots, participants) whose newest event is older than N days
  (``CARDSORT_RETENTION_DAYS``, default 30). Run it from cron; it needs only ``DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime, timedelta

from cardsort_app.service.errors import ServiceError
from cardsort_app.service.sessions import SessionService
from cardsort_app.service.store_port import AsyncStore
from cardsort_app.service.workshop import Workshop

log = logging.getLogger(__name__)


def idle_end_minutes() -> float:
    return float(os.environ.get("CARDSORT_IDLE_END_MINUTES", "240"))


def retention_days() -> float:
    return float(os.environ.get("CARDSORT_RETENTION_DAYS", "30"))


async def end_idle_sessions(
    store: AsyncStore, service: SessionService, idle_minutes: float, now: datetime | None = None
) -> list[str]:
    """End (reason ``idle``) every session idle for ``idle_minutes``; returns the codes it ended."""
    if idle_minutes <= 0:
        return []
    before = (now or datetime.now(UTC)) - timedelta(minutes=idle_minutes)
    workshop = Workshop(service)
    ended = []
    for code in await store.idle_sessions(before):
        try:
            if await workshop.end_idle(code) is not None:
                ended.append(code)
        except ServiceError as exc:  # e.g. a session without a SESSION_CREATED: nothing to end
            log.warning("could not end idle session %s: %s", code, exc)
    return ended


def purge(database_url: str, days: float, dry_run: bool = False, now: datetime | None = None) -> list[str]:
    """Delete every session whose newest event is older than ``days``; returns the codes."""
    from cardsort_app.store import migrate
    from cardsort_app.store.eventstore import EventStore

    migrate.upgrade(database_url)
    before = (now or datetime.now(UTC)) - timedelta(days=days)
    with EventStore(database_url) as store:
        codes = store.expired_sessions(before)
        if not dry_run:
            for code in codes:
                store.delete_session(code)
    return codes


def main(argv: list[str] | None = None) -> int:
    from cardsort_app.service.runtime import database_url

    parser = argparse.ArgumentParser(prog="python -m cardsort_app.service.lifecycle")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("purge", help="delete sessions idle for longer than the retention period")
    p.add_argument("--days", type=float, default=retention_days(), help="retention period in days")
    p.add_argument("--dry-run", action="store_true", help="list the sessions, delete nothing")
    args = parser.parse_args(argv)
    if args.days < 0:
        parser.error("--days must be >= 0")
    codes = purge(database_url(), args.days, args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {len(codes)} session(s) idle for more than {args.days:g} days{': ' if codes else ''}"
        + " ".join(codes)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
