"""A headless tab for hostile-client tests: it sends whatever client storage and events a test gives it,
keeps every frame it received raw, and marks where one call's frames end.

The protocol is the one tests/support/reflex_ws.py describes (the load and crash tests' well-behaved tab);
this one adds arbitrary boot storage, raw payloads and per-call frame capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import reflex as rx
import websockets
from reflex_base.constants import Reflex

from tests.support.reflex_ws import CONNECT, CONNECT_ERROR, DISCONNECT, EVENT, HYDRATE, var


@dataclass
class WsTab:
    """One tab: a token, client storage it sends on connect, every frame it received (raw), a var mirror."""

    base_url: str  # http://127.0.0.1:PORT
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    storage: dict[str, str] = field(default_factory=dict)  # full var name -> value, sent on hydrate
    raw: list[str] = field(default_factory=list)
    vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    router_data: dict[str, Any] = field(default_factory=dict)
    #: (event name, argument) of a handler that sets a var to its argument: the end-of-call marker.
    sentinel_event: tuple[str, str] = ("", "")
    source: str | None = None  # a loopback address to connect from (another client, for per-client limits)
    ws: Any = None
    reader: asyncio.Task | None = None
    closed: bool = False

    def __post_init__(self) -> None:
        self._frames = asyncio.Condition()
        self._connected = asyncio.Event()
        self._sentinels = 0

    @staticmethod
    def route(path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        query = dict(query or {})
        search = "&".join(f"{k}={v}" for k, v in query.items() if k != "code")
        return {"pathname": path, "asPath": path + (f"?{search}" if search else ""), "query": query}

    async def open(self, path: str, query: dict[str, str] | None = None, timeout: float = 30) -> None:
        self.router_data = self.route(path, query)
        boot = {"name": HYDRATE, "payload": {"vars": dict(self.storage)}, "router_data": self.router_data}
        ws_base = self.base_url.replace("http://", "ws://", 1).rstrip("/")
        self.ws = await websockets.connect(
            f"{ws_base}/_event/?EIO=4&transport=websocket&token={self.token}",
            subprotocols=[Reflex.VERSION],
            max_size=2**25,
            ping_interval=None,
            open_timeout=timeout,
            close_timeout=2,
            **({"local_addr": (self.source, 0)} if self.source else {}),
        )
        opened = await asyncio.wait_for(self.ws.recv(), timeout)
        assert opened.startswith("0"), opened[:80]
        await self.ws.send(CONNECT + json.dumps({"event": boot}))
        self.reader = asyncio.get_running_loop().create_task(self._read())
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if raw == "2":
                    await self.ws.send("3")
                elif raw.startswith(EVENT):
                    self._apply(raw)
                    async with self._frames:
                        self.raw.append(raw)
                        self._frames.notify_all()
                elif raw.startswith(CONNECT):
                    self._connected.set()
                elif raw.startswith((CONNECT_ERROR, DISCONNECT)):
                    break
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = True
            self._connected.set()
            async with self._frames:
                self._frames.notify_all()

    def _apply(self, raw: str) -> None:
        name, *args = json.loads(raw[len(EVENT) :])
        if name != "event":
            return
        for state, values in (args[0].get("delta") or {}).items():
            self.vars.setdefault(state, {}).update(values)

    def get(self, state: type[rx.State], name: str, default: Any = None) -> Any:
        return self.vars.get(state.get_full_name(), {}).get(var(name), default)

    async def send_raw(self, name: str, payload: Any, router_data: dict[str, Any] | None = None) -> None:
        event = {"name": name, "payload": payload, "router_data": router_data or self.router_data}
        await self.ws.send(EVENT + json.dumps(["event", event]))

    async def call(
        self, name: str, payload: Any, router_data: dict[str, Any] | None = None, timeout: float = 30
    ) -> list[str]:
        """Send one event and return the frames it produced.

        Reflex handles a tab's events one at a time, in order, so a sentinel event sent right after it
        (`sentinel_event`, whose delta carries a unique value) marks where this event's frames end."""
        start = len(self.raw)
        await self.send_raw(name, payload, router_data)
        self._sentinels += 1
        mark = f"sentinel-{self._sentinels}-{uuid.uuid4().hex[:8]}"
        handler, arg = self.sentinel_event
        await self.send_raw(handler, {arg: mark})
        await self.wait_for(lambda: any(mark in f for f in self.raw[start:]), timeout, "the sentinel")
        frames = self.raw[start:]
        return [f for f in frames if mark not in f]

    async def wait_for(self, check, timeout: float = 30, what: str = "a state") -> None:
        async with asyncio.timeout(timeout), self._frames:
            while not check():
                if self.closed:
                    raise AssertionError(f"socket closed while waiting for {what}")
                await self._frames.wait()

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.send(DISCONNECT)
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.reader, 5)
