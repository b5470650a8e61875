"""A local Ably-compatible server for tests: the real `ably` SDK talks to it on 127.0.0.1.

    async with AblyTestServer() as server:
        client = ably.AblyRealtime(**client_options(server, client_id="alice"))

See `server.py` for the options the SDK needs and the fault controls; `python -m
tests.support.ably_server --port 0` runs it standalone (first stdout line `PORT=<n>`), and
`ControlClient` drives a standalone server from another process; `ServerThread` runs one on a
background thread's loop.
"""

from .control import ControlClient
from .server import AblyTestServer, client_options
from .threaded import ServerThread

__all__ = ["AblyTestServer", "ControlClient", "ServerThread", "client_options"]
