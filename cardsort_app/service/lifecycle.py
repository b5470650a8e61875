"""Session lifecycle: sessions left idle are ended; after the retention period their data is deleted.

* Idle end: a session whose newest event is older than ``CARDSORT_IDLE_END_MINUTES`` (default 240; 0 turns
  it off) gets a SESSION_ENDED with reason ``idle`` -- an event like any other, so every board shows it.
  Every worker sweeps (once a minute); the append is decided in the log's transaction, so two workers
  ending the same session append it once (the second decision sees it ended and appends nothing).
* Retention: the store's purge command (cardsort_app/store/retention.py) deletes every session whose
  newest event is older than ``CARDSORT_RETENTION_DAYS``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from cardsort_app.service.errors import ServiceError
from cardsort_app.service.sessions import SessionService
from cardsort_app.service.store_port import Store
from cardsort_app.service.workshop import Workshop

log = logging.getLogger(__name__)


async def end_idle_sessions(
    store: Store, service: SessionService, idle_minutes: float, now: datetime | None = None
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
