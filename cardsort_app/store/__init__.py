"""SQL event store: tables, migrations and the append/load/snapshot API (see ``eventstore``)."""

from .errors import (
    DuplicateEventId,
    ParticipantExists,
    SessionExists,
    StoreError,
    StoreUnavailable,
    UnknownSession,
)
from .eventstore import EventStore, SessionRecord
from .migrate import downgrade, upgrade

__all__ = [
    "DuplicateEventId",
    "EventStore",
    "ParticipantExists",
    "SessionExists",
    "SessionRecord",
    "StoreError",
    "StoreUnavailable",
    "UnknownSession",
    "downgrade",
    "upgrade",
]
