"""Errors raised by the event store: those of the service's store port (which the service maps to
user-facing responses), and the store's own."""

from __future__ import annotations

from cardsort_app.service.store_port import (
    DuplicateEventId,
    ParticipantExists,
    SessionExists,
    StoreError,
    StoreUnavailable,
)

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
