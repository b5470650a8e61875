"""Fixtures: a fresh local Ably server per test and a factory of real `ably` SDK clients bound to it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ably
import pytest

from tests.support.ably_server import AblyTestServer, client_options

from .helpers import FAST


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
