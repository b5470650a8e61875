"""How sequenced events travel as Ably messages on ``sessions:{code}`` (packing and unpacking).

One Ably message carries one event, or one *contiguous* seq range of one session's events:

* one event: ``name`` = the event type, ``id`` = ``{code}:{seq}``, ``data`` = the event's wire JSON;
* a range: ``name`` = ``"events"``, ``id`` = ``{code}:{firstSeq}-{lastSeq}``,
  ``data`` = ``{"events": [wire JSON, ...]}`` in seq order.

Each message is published on its own (never several messages with unrelated ids in one publish:
Ably's 40031 rule), so each id is that message's own idempotency key: a retried publish of the same
range is dropped by Ably within its ~2 minute window. Ranges of a retry can differ from the first try
(more events queued meanwhile); subscribers apply by seq and drop repeats, so an overlap is harmless.
A range is split so that each message stays under Ably's maximum message size (64 KiB by default).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cardsort_app.domain.events import Event, parse_event

RANGE_NAME = "events"
#: Room left in a message for its name, id, clientId and the SDK's encoding fields.
ENVELOPE_BYTES = 512


class MessageTooLarge(ValueError):
    """A single event is larger than Ably's maximum message size: it can never be published."""


@dataclass(frozen=True)
class Packed:
    id: str
    name: str
    data: dict[str, Any]
    first: int
    last: int


def message_id(code: str, first: int, last: int | None = None) -> str:
    return f"{code}:{first}" if last is None or last == first else f"{code}:{first}-{last}"


def _size(obj: Any) -> int:
    return len(json.dumps(obj).encode("utf-8"))  # the SDK sends dict data as json.dumps(data)


def _runs(events: Sequence[Event]) -> Iterator[list[Event]]:
    """Split seq-ordered events into runs of consecutive seqs."""
    run: list[Event] = []
    for event in events:
        if run and event.seq != (run[-1].seq or 0) + 1:
            yield run
            run = []
        run.append(event)
    if run:
        yield run


def pack(events: Sequence[Event], max_message_bytes: int) -> list[Packed]:
    """The Ably messages that carry `events` (sequenced, one session, seq order), each under the size
    limit. Deterministic: the same events always give the same messages (and ids)."""
    if not events:
        return []
    codes = {e.session_code for e in events}
    if len(codes) != 1 or any(e.seq is None for e in events):
        raise ValueError("pack takes sequenced events of one session")
    (code,) = codes
    ordered = sorted(events, key=lambda e: e.seq or 0)
    budget = max_message_bytes - ENVELOPE_BYTES
    out: list[Packed] = []
    for run in _runs(ordered):
        chunk: list[dict[str, Any]] = []
        size = _size({"events": []})
        for event in run:
            wire = event.to_wire()
            item = _size(wire) + 2  # ", " between items
            if item + _size({"events": []}) > budget:
                raise MessageTooLarge(
                    f"event {code}:{event.seq} is {item} bytes, "
                    f"over the {max_message_bytes}-byte message limit"
                )
            if chunk and size + item > budget:
                out.append(_message(code, chunk))
                chunk, size = [], _size({"events": []})
            chunk.append(wire)
            size += item
        out.append(_message(code, chunk))
    return out


def _message(code: str, wires: list[dict[str, Any]]) -> Packed:
    first, last = wires[0]["seq"], wires[-1]["seq"]
    if len(wires) == 1:
        return Packed(message_id(code, first), str(wires[0]["type"]), wires[0], first, last)
    return Packed(message_id(code, first, last), RANGE_NAME, {"events": wires}, first, last)


def unpack(name: str | None, data: Any) -> list[Event]:
    """The events an Ably message carries (seq order); raises ValueError on anything malformed."""
    if name == RANGE_NAME:
        if isinstance(data, str | bytes | bytearray):
            data = json.loads(data)
        if not isinstance(data, dict) or not isinstance(data.get("events"), list) or not data["events"]:
            raise ValueError("a range message needs a non-empty 'events' list")
        events = [parse_event(item) for item in data["events"]]
        seqs = [e.seq for e in events]
        if None in seqs or seqs != list(range(seqs[0] or 0, (seqs[0] or 0) + len(seqs))):
            raise ValueError(f"a range message must carry consecutive seqs, got {seqs[:5]}...")
        return events
    return [parse_event(data)]
