"""Helpers shared by the Ably server tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# Client timings for tests: give up on a silent or refused connection after 1.5 s (SDK default 10 s)
# and retry 0.3 s after a failed attempt (SDK default 15 s).
FAST = {"realtime_request_timeout": 1500, "disconnected_retry_timeout": 300}


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll `predicate` every 20 ms; fail the test (not hang) after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
