"""Fixtures: a fresh local Ably server per test and a factory of real `ably` SDK clients bound to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ably
import pytest

from tests.support.ably_server import AblyTestServer, client_options

# Client timings for tests: give up on a silent or refused connection after 1.5 s (SDK default 10 s)
# and retry 0.3 s after a failed attempt (SDK default 15 s).
FAST = {"realtime_request_timeout": 1500, "disconnected_retry_timeout": 300}


@pytest.fixture
async def server() -> AsyncIterator[AblyTestServer]:
    async with AblyTestServer(seed=1234) as srv:
        yield srv


@pytest.fixture
async def realtime(server: AblyTestServer) -> AsyncIterator[Callable[..., Awaitable[ably.AblyRealtime]]]:
    """`await realtime(client_id="a", ...)`: a connected AblyRealtime, closed at teardown."""
    clients: list[ably.AblyRealtime] = []

    async def make(target: Any = None, **overrides: Any) -> ably.AblyRealtime:
        client = ably.AblyRealtime(**client_options(target or server, **{**FAST, **overrides}))
        clients.append(client)
        await asyncio.wait_for(client.connection.once_async("connected"), 5)
        return client

    yield make
    for client in clients:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), 3)


@pytest.fixture
async def rest(server: AblyTestServer) -> AsyncIterator[Callable[..., ably.AblyRest]]:
    clients: list[ably.AblyRest] = []

    def make(target: Any = None, **overrides: Any) -> ably.AblyRest:
        client = ably.AblyRest(**client_options(target or server, **overrides))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll `predicate` every 20 ms; fail the test (not hang) after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
