"""`ServerThread`: the server on its own event loop in a background thread.

For synchronous tests, or async tests whose loop must not host the server (e.g. to keep a blocked
loop from also freezing the server). Control calls are marshalled onto the server's loop.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .server import AblyTestServer


class ServerThread:
    """``with ServerThread() as srv: ...``; ``srv.drop_connections()``, ``srv.duplicate_next(2)``,
    ``srv.counters`` etc. behave like the `AblyTestServer` methods but block until done."""

    def __init__(self, **server_kwargs: Any) -> None:
        self._kwargs = server_kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ably-test-server", daemon=True)
        self.server: AblyTestServer | None = None

    def __enter__(self) -> ServerThread:
        self._thread.start()

        async def create() -> AblyTestServer:
            server = AblyTestServer(**self._kwargs)
            await server.start()
            return server

        self.server = self._submit(create()).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self._submit(self.server.aclose()).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _submit(self, coro: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, fn: Callable[[AblyTestServer], Any], timeout: float = 10) -> Any:
        """Run ``fn(server)`` on the server's loop (awaiting it if it returns an awaitable)."""
        assert self.server is not None, "use ServerThread as a context manager"
        server = self.server

        async def run() -> Any:
            result = fn(server)
            if inspect.isawaitable(result):
                result = await result
            return result

        return self._submit(run()).result(timeout)

    @property
    def counters(self) -> dict[str, int]:
        return self.call(lambda s: s.counters.snapshot())

    def __getattr__(self, name: str) -> Any:
        server = self.__dict__.get("server")
        if server is None or name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(server, name)
        if not callable(attr):
            return self.call(lambda s: getattr(s, name))

        def proxy(*args: Any, **kwargs: Any) -> Any:
            return self.call(lambda s: getattr(s, name)(*args, **kwargs))

        return proxy
