"""Helpers for AblyBus tests: polling, sequenced events, and worker runtimes on a shared store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import ably

from cardsort_app.domain.events import Event, EventType, Pile, new_event
from cardsort_app.domain.state import SessionState
from cardsort_app.service.runtime import Runtime
from tests.support.ably_server import AblyTestServer

CODE = "ABCD23"


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> float:
    """Poll `predicate` every 10 ms; return the seconds it took, or fail the test after `timeout`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)
    return loop.time() - start


async def stays(predicate: Callable[[], Any], seconds: float, what: str = "condition") -> None:
    """Assert `predicate` holds for the whole of `seconds`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        assert predicate(), f"{what} stopped holding"
        await asyncio.sleep(0.01)


def sequenced(code: str, seq: int, card: str = "c1") -> Event:
    """A CARD_MOVED event carrying `seq` (the bus does not care whether it is valid for a state)."""
    return new_event(
        EventType.CARD_MOVED,
        session_code=code,
        participant_id="p1",
        version=seq - 1,
        seq=seq,
        card_id=f"{card}-{seq}",
        from_pile=Pile.UNSORTED,
        to_pile=Pile.IMPORTANT,
        position=0,
    )


def conn_id(bus: Any) -> str | None:
    client: ably.AblyRealtime = bus.channels.client
    return client.connection.connection_manager.connection_id


def server_channels(server: AblyTestServer, bus: Any) -> list[str]:
    """The channels the server has `bus`'s connection attached to."""
    cid = conn_id(bus)
    for info in server.connection_info():
        if info["id"] == cid:
            return info["channels"]
    return []


def kill_connection(server: AblyTestServer, bus: Any, hold_for: float) -> None:
    """Drop one bus's websocket (no close frame) and hold every new handshake off for `hold_for` s.

    `drop_connections` drops every client; this reaches into the test server to kill just one, as a
    worker's network failure would, while the other workers stay connected.
    """
    cid = conn_id(bus)
    conn = next(c for c in server.connections.values() if c.id == cid)
    server._hold_until = max(server._hold_until, time.monotonic() + hold_for)
    assert conn.transport is not None
    conn.transport.abort()


def connection_log(bus: Any) -> list[tuple[float, str]]:
    """(monotonic time, state) of every connection state change of `bus` from now on."""
    seen: list[tuple[float, str]] = []
    bus.channels.client.connection.on(lambda change: seen.append((time.monotonic(), change.current.value)))
    return seen


def carried_seqs(messages: list[dict[str, Any]]) -> list[int]:
    """The seqs a channel's messages carry, from their ids ``{code}:{seq}`` / ``{code}:{first}-{last}``."""
    seqs: list[int] = []
    for m in messages:
        first, _, last = m["id"].rsplit(":", 1)[1].partition("-")
        seqs.extend(range(int(first), int(last or first) + 1))
    return seqs


class Seen:
    """A hub listener recording every applied seq (the hub promises each once, in order)."""

    def __init__(self) -> None:
        self.seqs: list[int] = []

    def __call__(self, state: SessionState, events: Sequence[Event]) -> None:
        self.seqs.extend(e.seq or 0 for e in events)


def level(rt: Runtime, code: str, truth: SessionState) -> bool:
    return rt.hub.loaded(code) == truth


async def truth(rt: Runtime, code: str) -> SessionState:
    return await asyncio.to_thread(rt.store.sync.load_full, code)
