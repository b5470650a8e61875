"""Event schema versions: stored events live for years, the code that reads them changes.

Every stored event carries the schema version it was written in (the ``events.schema_version`` column;
``schemaVersion`` in an export). Readers never interpret an old event with new rules: they
first *upcast* its wire dict, one version step at a time, to :data:`CURRENT_SCHEMA_VERSION`, then parse it.

Upcasters are pure functions ``dict -> dict`` on the wire form (camelCase), one per step, registered in
:data:`UPCASTERS` under the version they upgrade *from*. They must not mutate their input.

How to add a version (README "Event schema versions"):

1. Change the event models in ``events.py`` (e.g. rename a payload field).
2. Bump :data:`CURRENT_SCHEMA_VERSION` to N+1 and add ``UPCASTERS[N] = _vN_to_vN1``: a pure function that
   turns a version-N wire event into its version-N+1 form (and leaves other event types alone).
3. Unit-test the step, and keep ``tests/fixtures/schema_v*.json``: the replay test must still rebuild the
   committed state from every fixture log through the upcasters. Add a fixture written by the new code.

Version 1 is the first versioned schema (every event type up to the team board and the facilitator's
workshop); there is no older one, so :data:`UPCASTERS` is empty until the first change.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from .events import Event, InvalidEvent, parse_event

__all__ = ["CURRENT_SCHEMA_VERSION", "UPCASTERS", "Upcaster", "parse_versioned", "upcast"]

#: The schema version today's code writes.
CURRENT_SCHEMA_VERSION = 1

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

#: ``UPCASTERS[n]`` turns a version-``n`` wire event into version ``n + 1``.
UPCASTERS: dict[int, Upcaster] = {}


def upcast(
    wire: Mapping[str, Any],
    version: int,
    *,
    current: int = CURRENT_SCHEMA_VERSION,
    steps: Mapping[int, Upcaster] | None = None,
) -> dict[str, Any]:
    """The wire dict of an event written in schema ``version``, brought to ``current`` step by step.

    Raises InvalidEvent for a version that is not an integer in 1..current (e.g. written by newer code
    than this reader) or when a step is missing. ``steps`` defaults to :data:`UPCASTERS`.
    """
    steps = UPCASTERS if steps is None else steps
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= current:
        raise InvalidEvent(
            f"Invalid event: schema version {version!r} is not one this code reads (1 to {current})"
        )
    data = copy.deepcopy(dict(wire))
    for step in range(version, current):
        upcaster = steps.get(step)
        if upcaster is None:
            raise InvalidEvent(f"Invalid event: no upcaster from schema version {step} to {step + 1}")
        data = upcaster(data)
    return data


def parse_versioned(wire: Mapping[str, Any] | str | bytes, version: int) -> Event:
    """Parse an event stored in schema ``version`` (its current form when it is already current)."""
    if version == CURRENT_SCHEMA_VERSION:
        return parse_event(wire if not isinstance(wire, Mapping) else dict(wire))
    if not isinstance(wire, Mapping):
        try:
            wire = json.loads(wire)
        except ValueError as exc:
            raise InvalidEvent(f"Invalid event: JSON: {exc}") from exc
        if not isinstance(wire, dict):
            raise InvalidEvent("Invalid event: expected a JSON object")
    return parse_event(upcast(wire, version))
