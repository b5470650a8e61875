"""Errors raised by the event store; the service maps them to user-facing responses."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every store error (also raised for unexpected integrity failures)."""


class UnknownSession(StoreError):
    """The session code has no ``sessions`` row."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown session {code!r}")
        self.code = code


class SessionExists(StoreError):
    """``create_session`` was called with a code that is already taken."""

    def __init__(self, code: str) -> None:
        super().__init__(f"session {code!r} already exists")
        self.code = code


class VersionConflict(StoreError):
    """``append(expected_version=...)`` did not match the session's ``last_seq``."""

    def __init__(self, current: int, expected: int | None = None) -> None:
        super().__init__(f"version conflict: expected {expected}, current {current}")
        self.current = current
        self.expected = expected


class ParticipantExists(StoreError):
    """``add_participant`` with an id already registered under a different token hash."""

    def __init__(self, code: str, participant_id: str) -> None:
        super().__init__(
            f"participant {participant_id!r} of session {code!r} is registered with another token"
        )
        self.code = code
        self.participant_id = participant_id


class DuplicateEventId(StoreError):
    """The event id is already stored for another session (ids are globally unique dedup keys)."""

    def __init__(self, event_id: str, stored_session: str) -> None:
        super().__init__(f"event id {event_id!r} is already used in session {stored_session!r}")
        self.event_id = event_id
        self.stored_session = stored_session


class StoreUnavailable(StoreError):
    """The database could not be reached, or stayed locked past the busy timeout; safe to retry."""
