"""Portable sessions: checking an exported log (``export.json``) before it becomes a new session.

An export is ``{"session": {...}, "events": [wire events], "schemaVersion": n}``; ``schemaVersion``
says which event schema the events were written in (1 when absent). :func:`verify_export` accepts it
only if the events are a complete, untampered history: every event well formed (after upcasting), one
session, ids unique, seqs exactly 1..n, the first one SESSION_CREATED, and every event allowed by the
rules in the state before it -- the same check the log made when it sequenced them. Summary fields of
``session`` that can be compared (``version``, the participants' steps) must agree with the replay. The first
problem found is reported with the event it is in, so nothing half-checked is ever imported.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .events import Event, EventType, InvalidEvent
from .reducer import reduce
from .rules import DomainError, check
from .state import SessionState
from .upcasting import CURRENT_SCHEMA_VERSION, parse_versioned

__all__ = ["BadExport", "VerifiedLog", "rehome", "verify_export"]


class BadExport(ValueError):
    """An export that may not be imported; the message names the first offending event."""


@dataclass(frozen=True)
class VerifiedLog:
    events: list[Event]
    state: SessionState
    schema_version: int


def _where(index: int, raw: Any) -> str:
    ident = raw.get("id") if isinstance(raw, dict) else None
    seq = raw.get("seq") if isinstance(raw, dict) else None
    parts = [f"event {index + 1}"]
    if seq is not None:
        parts.append(f"seq {seq!r}")
    if ident is not None:
        parts.append(f"id {str(ident)[:64]!r}")
    return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else parts[0]


def verify_export(export: Any, *, max_events: int = 1_000_000) -> VerifiedLog:
    """Check an export end to end; raises BadExport with the first problem, else the parsed log."""
    if not isinstance(export, dict):
        raise BadExport('An export is a JSON object with "session" and "events"')
    session = export.get("session", {})
    raw_events = export.get("events")
    if not isinstance(session, dict):
        raise BadExport('"session" must be an object')
    if not isinstance(raw_events, list) or not raw_events:
        raise BadExport('"events" must be a non-empty list of events')
    if len(raw_events) > max_events:
        raise BadExport(f"An export may hold at most {max_events} events (this one has {len(raw_events)})")
    schema_version = export.get("schemaVersion", session.get("schemaVersion", 1))
    if (
        isinstance(schema_version, bool)
        or not isinstance(schema_version, int)
        or not (1 <= schema_version <= CURRENT_SCHEMA_VERSION)
    ):
        raise BadExport(
            f"schemaVersion {schema_version!r} is not one this server reads (1 to {CURRENT_SCHEMA_VERSION})"
        )

    events: list[Event] = []
    seen_ids: set[str] = set()
    state: SessionState | None = None
    for index, raw in enumerate(raw_events):
        where = _where(index, raw)
        if not isinstance(raw, dict):
            raise BadExport(f"{where}: not a JSON object")
        try:
            event = parse_versioned(raw, schema_version)
        except InvalidEvent as exc:
            raise BadExport(f"{where}: {exc}") from exc
        if event.seq != index + 1:
            raise BadExport(f"{where}: expected seq {index + 1} (the log is gapless and in order)")
        if event.id in seen_ids:
            raise BadExport(f"{where}: the id is used by an earlier event")
        seen_ids.add(event.id)
        if state is None:
            if event.type != EventType.SESSION_CREATED:
                raise BadExport(f"{where}: a session's log starts with SESSION_CREATED, not {event.type}")
            state = SessionState.empty(event.session_code)
        elif event.session_code != state.code:
            raise BadExport(f"{where}: belongs to session {event.session_code}, not {state.code}")
        try:
            check(state, event)
        except DomainError as exc:
            raise BadExport(f"{where}: not a valid history: {exc}") from exc
        state = reduce(state, event)
        events.append(event)
    assert state is not None
    _check_summary(session, state)
    return VerifiedLog(events, state, schema_version)


def _check_summary(session: dict[str, Any], state: SessionState) -> None:
    """Fields of ``session`` that restate the replayed state must agree with it (a truncated log or an
    edited summary shows here)."""
    version = session.get("version")
    if version is not None and version != state.version:
        raise BadExport(
            f"the export says version {version!r} but its events end at seq {state.version} "
            f"(event {state.version + 1} onwards is missing)"
            if isinstance(version, int) and version > state.version
            else f"the export says version {version!r} but its events end at seq {state.version}"
        )
    people = session.get("participants")
    if isinstance(people, list):
        replayed = {p.id: (p.name, p.step) for p in state.active_participants}
        for person in people:
            if not isinstance(person, dict) or "id" not in person:
                raise BadExport('session.participants: each entry needs an "id"')
            got = replayed.get(person["id"])
            if got is None or ("step" in person and person["step"] != got[1]):
                raise BadExport(
                    f"session.participants: {person.get('name', person['id'])!r} does not match the events"
                )


def rehome(events: list[Event], code: str) -> Iterator[Event]:
    """The same history under a new session code, with fresh event ids (ids are unique across sessions:
    importing a session next to its original must not collide). Everything else is kept as it was."""
    for event in events:
        yield event.model_copy(update={"session_code": code, "id": str(uuid.uuid4())})
