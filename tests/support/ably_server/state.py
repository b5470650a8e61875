"""The service-side state: channels (message log, serials, presence), logical connections, counters, faults.

It lives on the server object, not on the listening socket, so `stop()`/`start()` keep history and
resumable connections exactly as an Ably outage would.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .auth import Credentials
from .rules import IdempotencyLog, RateBucket

if TYPE_CHECKING:
    from .server import Transport

SERIAL_WIDTH = 16


def serial_of(seq: int) -> str:
    """Channel serials are zero-padded sequence numbers: unique, non-empty and lexically ordered.

    Sequence 0 (an empty channel) still gets a non-empty serial, because the SDK only sends a
    `channelSerial` on re-attach when it is truthy (`ably/realtime/channel.py`, `_attach_impl`).
    """
    return f"{seq:0{SERIAL_WIDTH}d}"


def seq_of(serial: Any) -> int | None:
    if isinstance(serial, str) and len(serial) == SERIAL_WIDTH and serial.isdigit():
        return int(serial)
    return None


@dataclass
class Counters:
    """Monotonic counters tests assert on (`snapshot()` for a plain dict)."""

    connections: int = 0  # websocket transports accepted (a resume counts again)
    active_connections: int = 0
    resumed: int = 0
    resume_failed: int = 0
    closed: int = 0
    dropped_connections: int = 0
    heartbeats: int = 0
    pings: int = 0
    attached: int = 0
    detached: int = 0
    channel_resumes: int = 0  # ATTACHes that continued from a channelSerial
    continuity_lost: int = 0  # re-ATTACHes with a channelSerial on a new connection (not resumed)
    replayed: int = 0  # messages re-sent from the log on such an ATTACH
    published: int = 0  # messages accepted into a channel log
    idempotent_dropped: int = 0  # messages whose idempotency key the channel had seen in its window
    rate_limited: int = 0  # messages refused with 42913 (per-channel publish rate)
    refused_ids: int = 0  # publishes refused with 40031 (ids not <base>:<index>)
    delivered: int = 0  # messages written to subscriber sockets (duplicates included)
    undeliverable: int = 0  # messages for an attached connection that had no transport
    acked: int = 0  # ACKed protocol messages
    acks_lost: int = 0  # ACKs a fault never sent
    nacked: int = 0
    presence_events: int = 0
    duplicated: int = 0  # messages a fault sent twice
    lost: int = 0  # messages a fault never sent
    delayed: int = 0
    reordered_batches: int = 0
    http_requests: int = 0
    tokens_issued: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)

    def reset(self) -> None:
        active = self.active_connections
        for name in self.snapshot():
            setattr(self, name, 0)
        self.active_connections = active


@dataclass
class Faults:
    """Faults. Duplicate/lose/delay/reorder apply to MESSAGE deliveries only (never to ACK/NACK,
    ATTACHED or presence); `lose_ack_next` swallows ACKs."""

    duplicate_next: int = 0
    duplicate_probability: float = 0.0
    lose_next: int = 0
    lose_ack_next: int = 0
    delay: float = 0.0
    reorder_window: int = 0
    reorder_flush: float = 0.25  # a partial reorder window is released after this many seconds
    nack_next: list[tuple[int, int]] = field(default_factory=list)  # (code, status) per coming publish
    rng: random.Random = field(default_factory=random.Random)

    def reset(self) -> None:
        self.duplicate_next = 0
        self.duplicate_probability = 0.0
        self.lose_next = 0
        self.lose_ack_next = 0
        self.delay = 0.0
        self.reorder_window = 0
        self.nack_next.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "duplicate_next": self.duplicate_next,
            "duplicate_probability": self.duplicate_probability,
            "lose_next": self.lose_next,
            "lose_ack_next": self.lose_ack_next,
            "delay": self.delay,
            "reorder_window": self.reorder_window,
            "nack_next": [list(n) for n in self.nack_next],
        }


@dataclass
class Attachment:
    """One connection's attachment to one channel.

    `live` is False between a connection resume and the client's re-ATTACH: deliveries wait for the
    ATTACH, which replays from the client's `channelSerial`, so nothing arrives twice or out of order.
    """

    modes: int
    live: bool = True


@dataclass
class Connection:
    """A logical Ably connection; it outlives its websocket transports for `connectionStateTtl`."""

    id: str
    key: str
    creds: Credentials
    client_id: str | None
    fmt: str
    echo: bool = True
    transport: Transport | None = None
    attached: dict[str, Attachment] = field(default_factory=dict)
    closed: bool = False
    expiry: asyncio.TimerHandle | None = None
    presence_grace: asyncio.TimerHandle | None = None

    @staticmethod
    def new(creds: Credentials, client_id: str | None, fmt: str) -> Connection:
        conn_id = secrets.token_urlsafe(9).replace("-", "x").replace("_", "y")
        return Connection(
            id=conn_id,
            key=f"{conn_id}!{secrets.token_urlsafe(12)}",
            creds=creds,
            client_id=client_id,
            fmt=fmt,
        )

    def cancel_timers(self) -> None:
        for handle in (self.expiry, self.presence_grace):
            if handle is not None:
                handle.cancel()
        self.expiry = None
        self.presence_grace = None


@dataclass
class Channel:
    """A channel's retained message log (serial = position), idempotency keys, publish rate and presence."""

    name: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    idempotency: IdempotencyLog = field(default_factory=IdempotencyLog)
    rate: RateBucket = field(default_factory=RateBucket)
    subscribers: dict[str, Connection] = field(default_factory=dict)
    presence: dict[str, dict[str, Any]] = field(default_factory=dict)  # memberKey -> PRESENT entry
    presence_log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_serial(self) -> str:
        return serial_of(len(self.messages))

    def after(self, serial: str) -> list[dict[str, Any]] | None:
        """Messages after `serial`, or None when the serial is not one this channel issued."""
        seq = seq_of(serial)
        if seq is None or seq > len(self.messages):
            return None
        return self.messages[seq:]

    def members_of(self, conn_id: str) -> list[str]:
        return [key for key, entry in self.presence.items() if entry.get("connectionId") == conn_id]
