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
