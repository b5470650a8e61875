"""Ably's publish rules, as its documentation states them, enforced by the test server.

Each rule names the page it comes from; tests/ably/test_server_rules.py has one test per rule.

* **One idempotency key per publish** -- "40031: Invalid client-specified message id"
  (https://ably.com/docs/platform/errors/codes/40031-invalid-client-specified-message-id) and Ably's FAQ
  "Client-specified message ID restrictions for multiple messages published atomically": several
  messages published together share ONE key; if they carry ids, every id must be ``<base>:<index>``
  with the zero-based position, else the publish is refused with 40031 (HTTP 400). An empty id is
  refused too. A repeat of a key is acknowledged and not delivered again.
* **Idempotency window** -- Ably's messages documentation, "Idempotent publishing": Ably can only
  detect a repeated id within about 2 minutes of the original; after that it is a new message.
* **Per-channel publish rate** -- "42913: Per-channel publish rate exceeded"
  (https://ably.com/docs/platform/errors/codes/42913-rate-limit-exceeded-per-channel-inbound): messages
  published to one channel (from every publisher together) beyond its rate are rejected with 42913,
  HTTP 429; the channel stays attached; republish after a delay.
* **Maximum message size** -- https://ably.com/docs/platform/pricing/limits (64 KiB by default; the SDK
  reports 40009 "Maximum size of messages that can be published at once exceeded"). It counts name,
  data, clientId and extras of every message of one publish together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .protocol import AblyError, payload_size

#: Ably's documented defaults.
IDEMPOTENCY_WINDOW_MS = 120_000
CHANNEL_RATE_LIMIT = 50.0  # messages per second per channel
MAX_MESSAGE_SIZE = 65_536


def idempotency_key(messages: list[dict[str, Any]]) -> str | None:
    """The publish's one idempotency key (None when no message carries an id); raises 40031.

    One message: its id. Several: the ``<base>`` every id must share as ``<base>:<index>``.
    """
    ids = [m.get("id") for m in messages]
    if all(i is None for i in ids):
        return None
    for i in ids:
        if i is None or not isinstance(i, str) or not i:
            raise AblyError(40031, 400, "Client-specified message id cannot be empty")
    if len(ids) == 1:
        return str(ids[0])
    base, _, first = str(ids[0]).rpartition(":")
    expected = [f"{base}:{n}" for n in range(len(ids))]
    if not base or not first.isdigit() or ids != expected:
        raise AblyError(
            40031,
            400,
            "Client-specified message ids do not match the required format for multi-message "
            f"ProtocolMessages (expected <base>:<index>, got {ids[:3]}...)",
        )
    return base


def check_size(messages: list[dict[str, Any]], limit: int) -> None:
    size = sum(payload_size(m) for m in messages)
    if size > limit:
        raise AblyError(
            40009,
            400,
            f"Maximum size of messages that can be published at once exceeded (was {size} bytes; "
            f"limit is {limit} bytes)",
        )


@dataclass
class IdempotencyLog:
    """Keys a channel has seen, each remembered for `window_ms` (Ably: about 2 minutes)."""

    seen: dict[str, tuple[list[str | None], float]] = field(default_factory=dict)

    def lookup(self, key: str, window_ms: int) -> list[str | None] | None:
        entry = self.seen.get(key)
        if entry is None:
            return None
        serials, at = entry
        if (time.monotonic() - at) * 1000 > window_ms:
            del self.seen[key]  # outside the window: a new message
            return None
        return serials

    def remember(self, key: str, serials: list[str | None], window_ms: int) -> None:
        now = time.monotonic()
        self.seen[key] = (serials, now)
        if len(self.seen) > 4096:  # forget expired keys now and then
            cutoff = now - window_ms / 1000
            for k in [k for k, (_, at) in self.seen.items() if at < cutoff]:
                del self.seen[k]


@dataclass
class RateBucket:
    """Token bucket: `rate` messages/s with a burst of one second's worth."""

    tokens: float = -1.0
    at: float = 0.0

    def take(self, count: int, rate: float, channel: str) -> None:
        if rate <= 0:
            return
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens, self.at = rate, now
        self.tokens = min(rate, self.tokens + (now - self.at) * rate)
        self.at = now
        if count > self.tokens:
            raise AblyError(
                42913,
                429,
                "Rate limit exceeded; request rejected (nonfatal); metric = channel.maxRate; "
                f"permitted rate = {rate:g}; scope = channel:{channel}",
            )
        self.tokens -= count
