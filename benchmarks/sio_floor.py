"""The floor for `ws_load`: a plain python-socketio server that only relays frames to a room.

Served by granian (the ASGI server Reflex itself runs on) in its own process, with the same Engine.IO path,
namespace, transport and ping settings as the app. A tab connects as it connects to the app (its CONNECT
auth is ignored) and joins the room of its `room` query parameter; `relay` broadcasts the given frame as a
`cardsort_live` event to the room of the sender, except the sender: exactly the frame and the sockets the
app's fan-out serves, with nothing else to do. `ws_load` prints the app's latency as a ratio of this one.

    granian --interface asgi benchmarks.sio_floor:app --port PORT
"""

from __future__ import annotations

import os
import urllib.parse

import socketio

NAMESPACE = "/_event"
sio = socketio.AsyncServer(
    async_mode="asgi",
    ping_interval=float(os.environ.get("REFLEX_SOCKET_INTERVAL", "5")),
    ping_timeout=float(os.environ.get("REFLEX_SOCKET_TIMEOUT", "5")),
    transports=["websocket"],
    allow_upgrades=False,
    async_handlers=False,
    max_http_buffer_size=2**24,
)


@sio.on("connect", namespace=NAMESPACE)
async def connect(sid: str, environ: dict, _auth: object = None) -> None:
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    await sio.enter_room(sid, query.get("room", ["all"])[0], namespace=NAMESPACE)


@sio.on("relay", namespace=NAMESPACE)
async def relay(sid: str, frame: object) -> None:
    rooms = [r for r in sio.rooms(sid, namespace=NAMESPACE) if r != sid]
    for room in rooms:
        await sio.emit("cardsort_live", frame, to=room, skip_sid=sid, namespace=NAMESPACE)


app = socketio.ASGIApp(sio, socketio_path="_event")
