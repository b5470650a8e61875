"""Ably errors sorted into what to do about them, and pacing under a channel's publish rate.

Transient (retry later with backoff and jitter): lost or slow connections (a WebSocket closed under a
publish carries its close code, e.g. 1006, where Ably's codes have five digits), timeouts, 5xx, rate limits
(429 / 4291x, e.g. 42913 "per-channel publish rate exceeded"). Token expiry (40140-40149) is renewed
(the SDK asks for a new token with its key) and then retried. Everything else in 4xxxx is permanent:
the same publish would be refused again (40031 bad ids, 40009 too large, 40160 capability ...).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from websockets.exceptions import ConnectionClosed

from cardsort_app.service.bus_port import PublishError

Kind = Literal["transient", "renew", "permanent"]


class BusUnavailable(PublishError):
    """A transient publish failure (not connected, no ACK in time, rate limited, 5xx, token renewal):
    the caller retries the same events later; ids make a repeat harmless."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message, retryable=True, code=code)


def error_code(exc: BaseException) -> int | None:
    if isinstance(exc, ConnectionClosed):  # the ably SDK's socket (its `.code` is deprecated): the close
        return exc.rcvd.code if exc.rcvd is not None else 1006  # frame received, or 1006 "abnormal"
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def classify(exc: BaseException) -> Kind:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | ConnectionError):
        return "transient"
    code = error_code(exc)
    status = getattr(exc, "status_code", None)
    if code is None:
        return "transient" if isinstance(exc, OSError) else "permanent"
    if code < 10000:  # a WebSocket close code (1006: the connection dropped mid-publish), not Ably's
        return "transient"
    if 40140 <= code <= 40149:
        return "renew"
    if status == 429 or 42900 <= code <= 42999:
        return "transient"
    if code >= 50000 or (isinstance(status, int) and status >= 500):
        return "transient"
    if 80000 <= code <= 80099 or code == 90001:  # connection / channel state: it comes back
        return "transient"
    if code == 40001 and "state" in str(exc):  # "Cannot publish message; connection state is ..."
        return "transient"
    return "permanent"


class Pacer:
    """Keeps one channel's publishes under `rate` messages/s: a token bucket with a small burst (a fifth
    of a second's worth), so that even with network jitter Ably's one-second window never sees more
    than its limit. Waiting callers are served in order."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate / 5)
        self._tokens = self.burst
        self._at = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    async def wait(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            self._refill()
            while self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1

    def try_take(self) -> bool:
        """A token now or never (for best-effort traffic such as diagnostics)."""
        if self.rate <= 0:
            return True
        self._refill()
        if self._tokens < 1 or self._lock.locked():
            return False
        self._tokens -= 1
        return True

    def describe(self) -> dict[str, Any]:
        return {"rate": self.rate, "burst": self.burst}
