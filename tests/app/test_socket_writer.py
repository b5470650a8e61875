"""The cheaper engine.io write path (ui/socket_writer.py) keeps engine.io's behaviour: queued packets leave
together and in order, the close marker ends the writer, a silent socket times out, and a frame goes to
the server's own send under the handshake-only wrappers."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from engineio import exceptions
from engineio.async_drivers.asgi import WebSocket
from engineio.async_socket import AsyncSocket
from starlette._exception_handler import wrap_app_handling_exceptions

from cardsort_app.ui import socket_writer


def _socket(wait: float = 5.0) -> Any:
    return SimpleNamespace(queue=asyncio.Queue(), server=SimpleNamespace(ping_interval=wait, ping_timeout=0))


async def test_queued_packets_leave_together_in_order_and_the_close_marker_stays() -> None:
    sock = _socket()
    for pkt in ("a", "b", None):
        sock.queue.put_nowait(pkt)
    assert await socket_writer.poll(sock) == ["a", "b"]
    assert await socket_writer.poll(sock) == []  # the close marker: the writer ends
    assert sock.queue._unfinished_tasks == 0  # noqa: SLF001 - every packet taken was marked done


async def test_a_packet_queued_while_waiting_wakes_the_writer() -> None:
    sock = _socket()
    waiting = asyncio.ensure_future(socket_writer.poll(sock))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    sock.queue.put_nowait("frame")
    assert await asyncio.wait_for(waiting, 1) == ["frame"]


async def test_nothing_within_the_ping_window_or_a_cancel_is_queue_empty() -> None:
    with pytest.raises(exceptions.QueueEmpty):
        await socket_writer.poll(_socket(wait=0.02))
    sock = _socket()
    waiting = asyncio.ensure_future(socket_writer.poll(sock))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(exceptions.QueueEmpty):
        await waiting
    sock.queue.put_nowait("after")  # the cancelled wait took nothing
    assert sock.queue.get_nowait() == "after"


async def test_a_frame_goes_to_the_servers_send_under_the_pass_through_wrappers() -> None:
    sent: list[dict[str, Any]] = []

    async def server_send(message: dict[str, Any]) -> None:
        sent.append(message)

    captured: list[Any] = []

    async def app(_scope: Any, _receive: Any, send: Any) -> None:
        captured.append(send)

    await wrap_app_handling_exceptions(app, SimpleNamespace(scope={}))({}, None, server_send)
    starlette_sender = captured[0]
    assert starlette_sender is not server_send
    assert socket_writer.innermost(starlette_sender) is server_send
    assert socket_writer.innermost(server_send) is server_send  # anything else is left as it is

    ws = WebSocket.__new__(WebSocket)
    ws.asgi_send = starlette_sender
    await socket_writer.send(ws, "42[frame]")
    await socket_writer.send(ws, b"\x01")
    assert sent == [
        {"type": "websocket.send", "bytes": None, "text": "42[frame]"},
        {"type": "websocket.send", "bytes": b"\x01", "text": None},
    ]


def test_install_replaces_engineios_own_functions_once() -> None:
    socket_writer.install()
    socket_writer.install()
    assert AsyncSocket.poll is socket_writer.poll
    assert WebSocket.send is socket_writer.send
