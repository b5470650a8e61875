"""Limits with manners: how much one client, one participant or everyone together may do.

Pure logic (a clock is passed in), so it is tested without a server. Token buckets: each key holds up to
`burst` tokens, refilled at `rate` per second; an action takes one, and an empty bucket says how long until
the next token (the REST layer sends that as `Retry-After`, the UI says it in words). Buckets live in this
process's memory: with several workers each enforces its own share, which is the point of a per-process
guard (the database is the shared resource it protects).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from cardsort_app.service.errors import ServiceError

#: Keys remembered per limiter; the least recently used are forgotten first (a flood of new keys
#: cannot grow memory without bound; a forgotten key starts again with a full bucket).
MAX_KEYS = 50_000


class LimitExceeded(ServiceError):
    """Too many requests: try again after `retry_after` seconds."""

    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Token buckets by key: `rate` tokens per second, at most `burst` saved up."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    max_keys: int = MAX_KEYS
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict)

    def wait(self, key: str) -> float:
        """Take a token for `key`: 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        self._buckets[key] = bucket  # most recently used last
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate if self.rate > 0 else math.inf

    def take(self, key: str, message: str) -> None:
        """Take a token or raise LimitExceeded with `message` and when to try again."""
        wait = self.wait(key)
        if wait > 0:
            raise LimitExceeded(message, wait if math.isfinite(wait) else 3600)


@dataclass(frozen=True)
class LimitSettings:
    """The configurable limits: from the environment through cardsort_app/settings.py (README "Limits");
    the defaults here are the same."""

    creates_per_client_per_minute: float = 20
    creates_per_minute: float = 300
    joins_per_client_per_minute: float = 300
    participants_per_session: int = 300
    commands_per_second: float = 20
    command_burst: float = 60
    max_open_sessions: int = 500
    max_body_bytes: int = 64 * 1024


def _per_minute(count: float, clock: Callable[[], float]) -> RateLimiter:
    """`count` per minute, all of which may come at once (a workshop's people arrive together)."""
    return RateLimiter(rate=count / 60, burst=max(1.0, count), clock=clock)


class Limits:
    """The limiters of one process, keyed by client address, participant or nothing (global)."""

    def __init__(self, settings: LimitSettings | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = s = settings or LimitSettings()
        self.creates_by_client = _per_minute(s.creates_per_client_per_minute, clock)
        self.creates = _per_minute(s.creates_per_minute, clock)
        self.joins_by_client = _per_minute(s.joins_per_client_per_minute, clock)
        self.commands = RateLimiter(rate=s.commands_per_second, burst=max(1.0, s.command_burst), clock=clock)

    def create(self, client: str | None, open_sessions: int) -> None:
        if open_sessions >= self.settings.max_open_sessions:
            raise LimitExceeded("This server is running as many sessions as it can; try again later", 60)
        if client is not None:
            self.creates_by_client.take(client, "Too many new sessions from your address; wait a minute")
        self.creates.take("*", "Too many new sessions are being created right now; wait a minute")

    def join_attempt(self, client: str | None) -> None:
        if client is not None:
            self.joins_by_client.take(client, "Too many join attempts from your address; wait a minute")

    def session_full(self, participants: int) -> str | None:
        cap = self.settings.participants_per_session
        return f"This session is full ({cap} participants)" if participants >= cap else None

    def command(self, code: str, participant_id: str) -> None:
        self.commands.take(f"{code}/{participant_id}", "You are making changes very fast; wait a moment")
