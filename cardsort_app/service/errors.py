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


class NotFacilitator(SessionNotFound, Forbidden):
    """A facilitator request with an unknown code or a wrong key: both answer the same (404, one message),
    so a caller without the key cannot tell which codes exist. Caught as either parent."""

    status = 404

    def __init__(self, code: str = "") -> None:
        ServiceError.__init__(self, "No session with this code and facilitator key")
        self.code = code


class InvalidImport(ServiceError):
    """An export that may not be imported (malformed, truncated or tampered); nothing was created."""

    status = 400


class ReadOnly(Rejected):
    """A command on a read-only (imported) session."""

    def __init__(self) -> None:
        super().__init__("This session is a read-only import: it can be viewed and replayed, not changed")
