"""The per-socket write path of python-engineio, made cheaper: every live frame goes through it once per tab.

Every frame wakes each socket's writer task, which sends it and then waits for the next packet with
`asyncio.wait_for(queue.get(), timeout)`. On Python 3.11 `wait_for` wraps that wait in a new Task each
time: one live frame to a room of 200 sockets cost 200 task creations and twice the loop steps on top of
the writes themselves. `poll` bounds the same wait with `asyncio.timeout` (no task), and takes a packet
already queued at once. Behaviour is engine.io's own: `QueueEmpty` when nothing came within ping interval
+ timeout (the writer then closes a silently dead websocket) or the wait was cancelled; the close marker
(None) ends the list; packets queued meanwhile leave together.

Each write then passed through two ASGI send wrappers (Reflex's, Starlette's) that act only on the
handshake; `send` calls the server's own send under them (the handshake and the close still go through
them), one coroutine per frame and tab instead of three.

Measured in BENCHMARKS.md (issue 10, app CPU per step change at 200 tabs).
"""

from __future__ import annotations

import asyncio
from typing import Any

from engineio import exceptions
from engineio.async_drivers.asgi import WebSocket
from engineio.async_socket import AsyncSocket


async def poll(self: AsyncSocket) -> list[Any]:
    """Wait for packets to send to the client (engine.io's `AsyncSocket.poll`, without a task per wait)."""
    queue = self.queue
    try:
        if queue.empty():
            async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                first = await queue.get()
        else:
            first = queue.get_nowait()
        queue.task_done()
    except (TimeoutError, asyncio.CancelledError):
        raise exceptions.QueueEmpty() from None
    if first is None:
        return []
    packets = [first]
    while not queue.empty():
        pkt = queue.get_nowait()
        queue.task_done()
        if pkt is None:
            queue.put_nowait(None)  # the close marker stays for the next poll, which ends the writer
            break
        packets.append(pkt)
    return packets


#: Send wrappers between engine.io and the server that pass a websocket's messages through unchanged (they
#: act only on the handshake: Reflex's accept subprotocol, Starlette's HTTP response start): their
#: qualified name -> the free variable holding the send they wrap.
_PASS_THROUGH = {
    "App._setup_state.<locals>.HeaderMiddleware.__call__.<locals>.modified_send": "original_send",
    "wrap_app_handling_exceptions.<locals>.wrapped_app.<locals>.sender": "send",
}


def innermost(send: Any) -> Any:
    """The server's own send under the pass-through wrappers (each costs every frame a coroutine)."""
    while (var := _PASS_THROUGH.get(getattr(send, "__qualname__", ""))) is not None:
        cells = dict(zip(send.__code__.co_freevars, send.__closure__ or (), strict=True))
        if var not in cells:
            break
        send = cells[var].cell_contents
    return send


async def send(self: WebSocket, message: str | bytes) -> None:
    """engine.io's websocket send, straight to the server's send once the handshake is done."""
    direct = self.__dict__.get("_direct_send")
    if direct is None:
        direct = self._direct_send = innermost(self.asgi_send)
    binary = isinstance(message, bytes)
    await direct(
        {"type": "websocket.send", "bytes": message if binary else None, "text": None if binary else message}
    )


def install() -> None:
    """Replace engine.io's poll and websocket send, once; a changed engine.io (the function no longer its
    own) is left alone."""
    if AsyncSocket.poll.__module__ == "engineio.async_socket":
        AsyncSocket.poll = poll  # type: ignore[method-assign]
    if WebSocket.send.__module__ == "engineio.async_drivers.asgi":
        WebSocket.send = send  # type: ignore[method-assign]
