"""Fixtures for AblyBus tests: a local Ably-compatible server per test and AblyBus "workers" bound to it.

SDK timings are short (a refused or silent connection is given up after 1.5 s and retried 0.3 s later)
so faults heal in test time; every bus is closed at teardown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from cardsort_app.bus.ably_bus import AblyBus
from tests.support.ably_server import AblyTestServer, client_options

#: SDK options for tests (the SDK's defaults are 10 s / 15 s / 15 s).
FAST = {"realtime_request_timeout": 1500, "disconnected_retry_timeout": 300, "channel_retry_timeout": 500}
#: Bus settings for tests.
BUS_FAST = {"publish_timeout": 2.0, "connect_timeout": 5.0, "attach_timeout": 3.0, "presence_timeout": 3.0}

ServerFactory = Callable[..., Awaitable[AblyTestServer]]
BusFactory = Callable[..., Awaitable[AblyBus]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    """`await make_server(presence_grace_ms=..., ...)`: a started AblyTestServer, closed at teardown."""
    servers: list[AblyTestServer] = []

    async def make(**kwargs: Any) -> AblyTestServer:
        server = AblyTestServer(**{"seed": 1234, **kwargs})
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.aclose()


@pytest.fixture
async def server(make_server: ServerFactory) -> AblyTestServer:
    return await make_server()


def bus_options(server: AblyTestServer, auth: str = "token", **overrides: Any) -> dict[str, Any]:
    """SDK options for an AblyBus on `server`: token auth (as `client_options`) or plain key auth."""
    opts = client_options(server, **{**FAST, **overrides})
    if auth == "key":
        opts["use_token_auth"] = False
    return opts


@pytest.fixture
async def make_bus(server: AblyTestServer) -> AsyncIterator[BusFactory]:
    """`await make_bus(target=None, auth="token", start=True, **sdk_overrides)`: a started AblyBus."""
    buses: list[AblyBus] = []

    async def make(
        target: AblyTestServer | None = None, *, auth: str = "token", start: bool = True, **overrides: Any
    ) -> AblyBus:
        settings = {k: overrides.pop(k) for k in list(overrides) if k in BUS_FAST}
        bus = AblyBus(bus_options(target or server, auth, **overrides), **{**BUS_FAST, **settings})
        buses.append(bus)
        if start:
            await bus.start()
        return bus

    yield make
    for bus in buses:
        with contextlib.suppress(Exception):
            await bus.close()
