"""Fixtures for AblyBus tests: a local Ably-compatible server per test and AblyBus "workers" bound to it.

SDK timings are short (a refused or silent connection is given up after 1.5 s and retried 0.3 s later)
so faults heal in test time; every bus is closed at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cardsort_app.bootstrap import build
from cardsort_app.bus.ably_bus import AblyBus
from cardsort_app.bus.inprocess import InProcessBus
from cardsort_app.service.runtime import Runtime
from cardsort_app.store import migrate
from tests.support.ably_server import AblyTestServer, client_options

log = logging.getLogger(__name__)

#: SDK options for tests (the SDK's defaults are 10 s / 15 s / 15 s).
FAST = {"realtime_request_timeout": 1500, "disconnected_retry_timeout": 300, "channel_retry_timeout": 500}
#: Bus settings for tests.
BUS_FAST = {"publish_timeout": 2.0, "connect_timeout": 5.0, "attach_timeout": 3.0, "presence_timeout": 3.0}
#: AblyBus keyword arguments (the rest of `make_bus`'s overrides are SDK options).
BUS_SETTINGS = {*BUS_FAST, "channel_rate", "max_message_bytes", "detach_timeout", "debug_timeout"}

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
        settings = {k: overrides.pop(k) for k in list(overrides) if k in BUS_SETTINGS}
        bus = AblyBus(bus_options(target or server, auth, **overrides), **{**BUS_FAST, **settings})
        buses.append(bus)
        if start:
            await bus.start()
        return bus

    yield make
    for bus in buses:
        with contextlib.suppress(Exception):
            await bus.close()


Worker = Callable[..., Awaitable[Runtime]]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cardsort.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture
async def worker(db_url: str) -> AsyncIterator[Worker]:
    """`await worker(server)`: a started runtime on the shared log with an AblyBus on `server`
    (`worker(None)`: an in-process bus, i.e. a writer whose events never reach Ably)."""
    runtimes: list[Runtime] = []

    async def make(server: AblyTestServer | None, **bus_settings: float) -> Runtime:
        bus = (
            InProcessBus() if server is None else AblyBus(bus_options(server), **{**BUS_FAST, **bus_settings})
        )
        rt = build(db_url, bus=bus)
        runtimes.append(rt)
        await rt.start()
        return rt

    yield make
    for rt in runtimes:
        try:
            await asyncio.wait_for(rt.close(), 10)
        except Exception:  # noqa: BLE001
            log.exception("closing a worker failed")
