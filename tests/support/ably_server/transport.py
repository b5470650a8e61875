"""One websocket session of the test server, and its faulted delivery pipeline.

Faults (lose, duplicate, reorder, delay) apply to MESSAGE deliveries only; see `state.Faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from websockets.server import ServerProtocol

from .protocol import (
    Action,
    encode,
)
from .state import Connection

if TYPE_CHECKING:
    from .server import AblyTestServer

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_CLOSE = object()  # writer-queue sentinel: close the websocket after what is queued


class Transport:
    """One websocket session; carries a `Connection` until it drops (a resume gets a new Transport)."""

    def __init__(
        self,
        server: AblyTestServer,
        protocol: ServerProtocol,
        writer: asyncio.StreamWriter,
        fmt: str,
    ) -> None:
        self.server = server
        self.protocol = protocol
        self.writer = writer
        self.fmt = fmt
        self.conn: Connection | None = None
        self.closed = False
        self.outq: asyncio.Queue[Any] = asyncio.Queue()
        self.delayq: deque[tuple[float, dict[str, Any], int]] = deque()
        self.delay_wakeup = asyncio.Event()
        self.reorder_buf: list[tuple[dict[str, Any], int]] = []
        self.reorder_timer: asyncio.TimerHandle | None = None
        self.token_timer: asyncio.TimerHandle | None = None
        self.tasks: list[asyncio.Task[None]] = []

    # -- output -------------------------------------------------------------------------------------

    def send(self, msg: dict[str, Any], delivered: int = 0) -> None:
        """Queue a protocol message in order; `delivered` counts the Ably messages it carries."""
        if not self.closed:
            self.outq.put_nowait((msg, delivered))

    def close_after_flush(self) -> None:
        if not self.closed:
            self.outq.put_nowait(_CLOSE)

    def flush_protocol(self) -> None:
        """Write whatever the sans-I/O protocol produced (frames, pongs, close echo, EOF)."""
        for chunk in self.protocol.data_to_send():
            if self.writer.is_closing():
                return
            if chunk:
                self.writer.write(chunk)
            else:
                self.writer.close()

    async def writer_loop(self) -> None:
        server = self.server
        while True:
            item = await self.outq.get()
            await server._running.wait()
            if self.closed or self.writer.is_closing():
                return
            if item is _CLOSE:
                self.protocol.send_close(1000, "")
                self.flush_protocol()
                asyncio.get_running_loop().call_later(1.0, self.abort)
                return
            msg, delivered = item
            try:
                data = encode(msg, self.fmt)
            except Exception:
                log.exception("ably test server: cannot encode %r", msg)
                continue
            if isinstance(data, bytes):
                self.protocol.send_binary(data)
            else:
                self.protocol.send_text(data.encode("utf-8"))
            self.flush_protocol()
            server.counters.delivered += delivered
            try:
                await self.writer.drain()
            except (ConnectionError, RuntimeError):
                return

    async def heartbeat_loop(self, interval: float) -> None:
        while not self.closed:
            await asyncio.sleep(interval)
            if self.server._running.is_set() and not self.closed:
                self.send({"action": Action.HEARTBEAT})
                self.server.counters.heartbeats += 1

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (what a network failure looks like)."""
        with contextlib.suppress(Exception):
            self.writer.transport.abort()

    # -- faulted delivery pipeline: lose -> duplicate -> reorder -> delay -> socket ---------------

    def deliver(self, msg: dict[str, Any], count: int) -> None:
        faults = self.server.faults
        counters = self.server.counters
        if faults.lose_next > 0:
            faults.lose_next -= 1
            counters.lost += count
            return
        copies = 1
        if faults.duplicate_next > 0:
            faults.duplicate_next -= 1
            copies = 2
        elif faults.duplicate_probability and faults.rng.random() < faults.duplicate_probability:
            copies = 2
        if copies == 2:
            counters.duplicated += count
        for _ in range(copies):
            self._reorder_stage(msg, count)

    def _reorder_stage(self, msg: dict[str, Any], count: int) -> None:
        faults = self.server.faults
        if faults.reorder_window > 1 or self.reorder_buf:
            self.reorder_buf.append((msg, count))
            if len(self.reorder_buf) >= max(faults.reorder_window, 1):
                self._flush_reorder()
            elif self.reorder_timer is None:
                loop = asyncio.get_running_loop()
                self.reorder_timer = loop.call_later(faults.reorder_flush, self._flush_reorder)
            return
        self._delay_stage(msg, count)

    def _flush_reorder(self) -> None:
        if self.reorder_timer is not None:
            self.reorder_timer.cancel()
            self.reorder_timer = None
        batch, self.reorder_buf = self.reorder_buf, []
        if len(batch) > 1:
            original = list(batch)
            self.server.faults.rng.shuffle(batch)
            if batch == original:  # a window must visibly reorder
                batch = batch[1:] + batch[:1]
            self.server.counters.reordered_batches += 1
        for msg, count in batch:
            self._delay_stage(msg, count)

    def _delay_stage(self, msg: dict[str, Any], count: int) -> None:
        delay = self.server.faults.delay
        if delay <= 0 and not self.delayq:
            self.send(msg, count)
            return
        if delay > 0:
            self.server.counters.delayed += count
        self.delayq.append((time.monotonic() + max(delay, 0.0), msg, count))
        self.delay_wakeup.set()

    async def delay_loop(self) -> None:
        """Releases delayed deliveries in FIFO order (a constant delay never reorders)."""
        while not self.closed:
            if not self.delayq:
                self.delay_wakeup.clear()
                await self.delay_wakeup.wait()
                continue
            release, msg, count = self.delayq[0]
            wait = release - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self.delayq.popleft()
            self.send(msg, count)
