"""Errors the service raises to its callers (UI and REST), each with a message a person can read."""


class ServiceError(Exception):
    """Base class; `status` is the HTTP status the REST layer answers with."""

    status = 400


class SessionNotFound(ServiceError):
    status = 404

    def __init__(self, code: str) -> None:
        super().__init__(f"No session with code '{code}'. Check the code and try again.")
        self.code = code


class Forbidden(ServiceError):
    status = 403


class Rejected(ServiceError):
    """A command the rules refused (DomainError) or a malformed event (InvalidEvent)."""

    status = 409
