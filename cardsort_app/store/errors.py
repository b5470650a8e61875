"""Errors raised by the event store: those of the service's store port (which the service maps to
user-facing responses), and the store's own."""

from __future__ import annotations

from cardsort_app.service.store_port import DuplicateEventId, SessionExists, StoreError, StoreUnavailable

__all__ = [
    "DuplicateEventId",
    "ParticipantExists",
    "SessionExists",
    "StoreError",
    "StoreUnavailable",
    "UnknownSession",
]


class UnknownSession(StoreError):
    """The session code has no ``sessions`` row."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown session {code!r}")
        self.code = code


class ParticipantExists(StoreError):
    """``add_participant`` with an id already registered under a different token hash."""

    def __init__(self, code: str, participant_id: str) -> None:
        super().__init__(
            f"participant {participant_id!r} of session {code!r} is registered with another token"
        )
        self.code = code
        self.participant_id = participant_id
