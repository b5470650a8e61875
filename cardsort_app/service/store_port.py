"""The store port: what the service needs of the event log, and the errors a store raises to it.

The SQL adapter (cardsort_app/store/async_store.py over store/eventstore.py) implements it; the service
never imports the adapter. Every method is async: an adapter keeps blocking I/O off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cardsort_app.domain.events import Event
from cardsort_app.domain.state import SessionState


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A session's registration (not in the log): its code, title, deck and the facilitator key's hash."""

    code: str
    title: str
    deck: str
    facilitator_key_hash: str
    last_seq: int
    created_at: datetime
    read_only: bool = False  # an imported session: a record nothing may change


class StoreError(Exception):
    """Base class of every store error (also raised for unexpected integrity failures)."""


class SessionExists(StoreError):
    """``create_session`` was called with a code that is already taken."""

    def __init__(self, code: str) -> None:
        super().__init__(f"session {code!r} already exists")
        self.code = code


class DuplicateEventId(StoreError):
    """The event id is already stored for another session (ids are globally unique dedup keys)."""

    def __init__(self, event_id: str, stored_session: str) -> None:
        super().__init__(f"event id {event_id!r} is already used in session {stored_session!r}")
        self.event_id = event_id
        self.stored_session = stored_session


class ParticipantExists(StoreError):
    """``add_participant`` with an id already registered under a different token hash."""

    def __init__(self, code: str, participant_id: str) -> None:
        super().__init__(
            f"participant {participant_id!r} of session {code!r} is registered with another token"
        )
        self.code = code
        self.participant_id = participant_id


class StoreUnavailable(StoreError):
    """The database could not be reached, or stayed locked past the busy timeout; safe to retry."""


#: Decides, against the session's state at the log's head, the event to append (None: nothing to do).
Decide = Callable[[SessionState], Event | None]


class Store(Protocol):
    async def create_session(self, code: str, title: str, deck: str, facilitator_key_hash: str) -> None:
        """Register a session code; raises SessionExists when it is taken."""
        ...

    async def get_session(self, code: str) -> SessionRecord | None: ...

    @property
    def snapshot_every(self) -> int:
        """Every how many events the log keeps a snapshot (imports write theirs the same way)."""
        ...

    async def import_session(
        self,
        code: str,
        title: str,
        deck: str,
        facilitator_key_hash: str,
        events: list[Event],
        snapshots: list[SessionState],
    ) -> SessionRecord:
        """Create a read-only session holding the sequenced ``events`` and ``snapshots``, all or nothing;
        raises SessionExists when the code is taken."""
        ...

    async def load_at(self, code: str, seq: int) -> SessionState:
        """The session right after ``seq`` (snapshot at or before it + the events up to it)."""
        ...

    async def add_participant(self, code: str, participant_id: str, token_hash: str) -> None:
        """Register a participant's token hash (the same hash again: a no-op); raises ParticipantExists
        when the id is registered under another hash."""
        ...

    async def participant_token_hash(self, code: str, participant_id: str) -> str | None: ...

    async def append_decided(
        self, code: str, base: SessionState, decide: Decide
    ) -> tuple[list[Event], Event | None]:
        """In one transaction on the log's head: bring `base` up to the head, `decide` on it, append.

        Returns (the events after `base` that were already in the log, the stored event or None). An
        exception `decide` raises aborts the transaction and propagates; re-appending a stored id returns
        the stored event; an id stored in another session raises DuplicateEventId.
        """
        ...

    async def unpublished(self, code: str | None = None, limit: int = 500) -> list[Event]: ...

    async def count_unpublished(self) -> int:
        """How many stored events wait for the relay (the outbox), for the metrics."""
        ...

    async def mark_published(self, code: str, seqs: Iterable[int]) -> int:
        """Mark exactly these seqs of the session published (the relay's own published batch)."""
        ...

    async def events_after(self, code: str, seq: int, limit: int | None = None) -> list[Event]: ...

    async def load(self, code: str) -> SessionState:
        """The session's state at the log's head (latest snapshot + the events after it)."""
        ...

    async def find_event(self, event_id: str) -> Event | None: ...

    async def ping(self) -> None:
        """Raise unless the database answers *and* holds the schema (health checks)."""
        ...

    async def idle_sessions(self, before: datetime, limit: int = 100) -> list[str]:
        """Sessions not ended whose newest event is older than `before` (to be ended as idle)."""
        ...

    async def close(self) -> None: ...
