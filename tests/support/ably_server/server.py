"""A local, loopback-only Ably-compatible server the real `ably` 3.1.4 SDK can talk to.

Layout: this module is the server object (lifecycle, faults, service-side helpers, socket dispatch);
`realtime.py` (websocket sessions, connections, ATTACH/DETACH/AUTH), `publishing.py` (MESSAGE, ACK/NACK,
fan-out) with Ably's publish rules in `rules.py`, `presence.py`, `rest.py` (the REST API),
`control_api.py` (`/_control/`), `transport.py` (one websocket and its faulted delivery pipeline) and
`state.py` (channels, connections, counters, faults) are mixed in or used by it.

One port serves the realtime websocket (any path, protocol v5, JSON or msgpack) and the REST API
(`/time`, `/keys/{keyName}/requestToken`, `/channels/{name}/messages` GET/POST,
`/channels/{name}/messages/{serial}`, `/channels/{name}/presence[/history]`, `/channels/{name}`,
`/stats`), plus a control API under `/_control/...` for tests in other processes.

How the SDK reaches it (`client_options`) — pure client options, no patch:

* ``endpoint="127.0.0.1:{port}/"``. The realtime transport builds its URL as
  ``f"{scheme}://{host}?{query}"`` and ignores `port` (``ably/transport/websockettransport.py:84``,
  upstream issue #567), so the port must ride inside the host string. REST builds
  ``urljoin(f"{scheme}://{host}:{port}", path)`` (``ably/http/http.py:196-197``): with the trailing
  slash the base becomes ``http://127.0.0.1:P/:80`` and, because every REST path is absolute,
  ``urljoin`` replaces ``/:80`` and keeps the authority ``127.0.0.1:P``. Without the slash REST would
  build ``http://127.0.0.1:P:80`` and fail. An endpoint containing a dot is used verbatim and has no
  fallback hosts (``ably/transport/defaults.py:47-58``), so the SDK never looks up Ably's hosts or
  its internet-connectivity URL.
* ``tls=False`` (plain ``ws://`` and ``http://``).
* ``use_token_auth=True`` with the key. REST refuses Basic auth over plain http with 40103
  (``ably/http/http.py:175-179``) — that also covers a realtime client's REST calls (history,
  token requests). With token auth the SDK signs token requests locally and POSTs them to
  ``/keys/{keyName}/requestToken``; the server checks the HMAC exactly as
  ``TokenRequest.sign_request`` computes it. Realtime-only key auth also works
  (``use_token_auth=False``: the key travels as the ``key`` query parameter).

Protocol behaviour worth knowing when writing tests:

* The SDK re-ATTACHes every attached channel after any (re)connect, sending the last
  ``channelSerial`` it processed (``ably/realtime/channel.py`` ``Channels._on_connected`` and
  ``_attach_impl``). The server continues the channel from that serial: it replays what the client
  missed (while disconnected, while the server was stopped, or lost to a dropped socket) and sets
  the RESUMED flag. Between a connection resume and that ATTACH, live deliveries for the channel are
  held back (they are in the log the ATTACH replays), so nothing is delivered twice by the server.
* A connection resumes (same ``connectionId``) while its state is younger than
  ``connection_state_ttl``; otherwise CONNECTED carries a new id and error 80008.
* Message ids are idempotency keys per channel: a repeated id is ACKed (with the original serial)
  and not delivered again. Realtime messages without an id get ``{connectionId}:{msgSerial}:{index}``,
  so a re-send after a resume is also dropped (a re-send after a *failed* resume has a new
  connection id and is a new message — the SDK quirk noted in DESIGN §6).
* Faults (duplicate, lose, delay, reorder) apply to MESSAGE deliveries only; `lose_ack_next` eats
  ACKs. A message `lose_next` skipped comes back only through history or a later re-attach.
* While the server is stopped, the SDK's connection attempt is refused, but ably 3.1.4 only handles
  websocket and DNS errors there (``websockettransport.py:110``), so it sits in CONNECTING until
  ``realtime_request_timeout`` (10 s) and then waits ``disconnected_retry_timeout`` (15 s) before
  trying again: tests shorten both (see `client_options`).
* AblyRealtime with ``client_id`` and token auth needs the clientId in ``default_token_params``;
  `client_options` adds it (see the comment there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .auth import AuthRegistry
from .control_api import ControlApi
from .httpio import BadRequest, HttpRequest, error_response, read_request
from .presence import PresenceProtocol
from .protocol import AblyError
from .publishing import Publishing
from .realtime import RealtimeProtocol
from .rest import RestApi
from .rules import CHANNEL_RATE_LIMIT, IDEMPOTENCY_WINDOW_MS, MAX_MESSAGE_SIZE
from .state import Channel, Connection, Counters, Faults
from .transport import HOST, Transport

log = logging.getLogger(__name__)


class AblyTestServer(RealtimeProtocol, Publishing, PresenceProtocol, RestApi, ControlApi):
    """Ably-compatible server on 127.0.0.1 with fault controls; see the module docstring.

    Use as ``async with AblyTestServer() as server:`` inside the test's event loop, then
    ``ably.AblyRealtime(**client_options(server))``. Control methods must be called from the loop
    the server runs on (tests in other processes use the `/_control/` HTTP API).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        app_id: str = "cardsort",
        key_id: str = "testkey",
        key_secret: str = "testsecret",
        max_idle_interval_ms: int = 15_000,
        heartbeat_interval_ms: int | None = None,
        connection_state_ttl_ms: int = 120_000,
        presence_grace_ms: int = 15_000,
        max_message_size: int = MAX_MESSAGE_SIZE,
        idempotency_window_ms: int = IDEMPOTENCY_WINDOW_MS,
        channel_rate_limit: float = CHANNEL_RATE_LIMIT,
        seed: int | None = None,
    ) -> None:
        self._port = port
        self.auth = AuthRegistry(app_id, key_id, key_secret)
        self.max_idle_interval_ms = max_idle_interval_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms or max(max_idle_interval_ms // 2, 50)
        self.connection_state_ttl_ms = connection_state_ttl_ms
        self.presence_grace_ms = presence_grace_ms
        self.max_message_size = max_message_size
        self.idempotency_window_ms = idempotency_window_ms
        self.channel_rate_limit = channel_rate_limit  # messages/s per channel; 0 turns the rule off
        self.counters = Counters()
        self.faults = Faults()
        if seed is not None:
            self.faults.rng.seed(seed)
        self.channels: dict[str, Channel] = {}
        self.connections: dict[str, Connection] = {}  # by connection key
        self._server: asyncio.Server | None = None
        self._running = asyncio.Event()
        self._running.set()
        self._pause_timer: asyncio.TimerHandle | None = None
        self._hold_until = 0.0
        self._transports: set[Transport] = set()
        self._sockets: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._restart: asyncio.Task[None] | None = None
        self._routes = self._rest_routes()

    # -- public: lifecycle ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("server not started yet")
        return self._port

    @property
    def key(self) -> str:
        """The default API key, ``appId.keyId:secret`` (capability ``{"*": ["*"]}``)."""
        return self.auth.default_key.key

    @property
    def endpoint(self) -> str:
        """The SDK `endpoint` option that reaches this server (see the module docstring)."""
        return f"{HOST}:{self.port}/"

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def is_serving(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen (again) on 127.0.0.1; after `stop()` it reuses the same port."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._on_socket, HOST, self._port, reuse_address=True)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("ably test server listening on %s", self.base_url)

    async def stop(self) -> None:
        """Stop listening and drop every socket; channel history and resumable connections stay."""
        if self._restart is not None and self._restart is not asyncio.current_task():
            self._restart.cancel()
            self._restart = None
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for transport in list(self._transports):
            transport.abort()
        for writer in list(self._sockets):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        # Python 3.12+ waits here for every handler; all sockets are aborted, so that is quick.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)
        await asyncio.sleep(0)

    async def stop_for(self, seconds: float) -> asyncio.Task[None]:
        """Stop now and start again after `seconds`; returns the restart task (awaitable)."""
        await self.stop()

        async def restart() -> None:
            await asyncio.sleep(seconds)
            self._restart = None
            await self.start()

        self._restart = asyncio.create_task(restart())
        return self._restart

    async def aclose(self) -> None:
        """Stop and cancel every timer and task (end of a test)."""
        await self.stop()
        if self._pause_timer:
            self._pause_timer.cancel()
        self._running.set()
        for conn in self.connections.values():
            conn.cancel_timers()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> AblyTestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- public: faults ------------------------------------------------------------------------------

    async def drop_connections(self, hold_for: float = 0.0) -> int:
        """Abort every websocket (no close frame); new handshakes wait `hold_for` seconds.

        Returns how many were dropped. The SDK reconnects at once and resumes; holding the
        handshake gives a test a window in which the client is disconnected.
        """
        if hold_for > 0:
            self._hold_until = max(self._hold_until, time.monotonic() + hold_for)
        dropped = list(self._transports)
        for transport in dropped:
            transport.abort()
        self.counters.dropped_connections += len(dropped)
        await asyncio.sleep(0)
        return len(dropped)

    def pause(self) -> None:
        """Freeze all I/O: no frames read or written, no handshakes, no REST answers (control API aside)."""
        self._running.clear()

    def unpause(self) -> None:
        if self._pause_timer is not None:
            self._pause_timer.cancel()
            self._pause_timer = None
        self._running.set()

    def pause_for(self, seconds: float) -> None:
        """Freeze like `pause()` and thaw after `seconds` (queued output is then sent)."""
        self.pause()
        if self._pause_timer is not None:
            self._pause_timer.cancel()
        self._pause_timer = asyncio.get_running_loop().call_later(seconds, self.unpause)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def duplicate_next(self, n: int = 1) -> None:
        """Send each of the next `n` MESSAGE deliveries twice."""
        self.faults.duplicate_next += n

    def duplicate_probability(self, p: float) -> None:
        """Send each MESSAGE delivery twice with probability `p` (seed the server for repeatability)."""
        self.faults.duplicate_probability = p

    def lose_next(self, n: int = 1) -> None:
        """Silently skip the next `n` MESSAGE deliveries (the log keeps them; history/re-attach recover)."""
        self.faults.lose_next += n

    def lose_ack_next(self, n: int = 1) -> None:
        """Accept the next `n` publishes (MESSAGE or PRESENCE) but never ACK them.

        Pair it with `drop_connections()` to make the SDK re-send an unacknowledged message after
        it reconnects, the case idempotent ids exist for.
        """
        self.faults.lose_ack_next += n

    def nack_next(self, code: int, status: int, n: int = 1) -> None:
        """Refuse the next `n` realtime publishes (MESSAGE) with Ably error `code` / HTTP `status`,
        e.g. 50000/500 (transient), 40142/401 (token expired), 40031/400 (permanent)."""
        self.faults.nack_next.extend([(code, status)] * n)

    def delay(self, seconds: float) -> None:
        """Hold every MESSAGE delivery for `seconds` (order is kept; ACKs are not delayed)."""
        self.faults.delay = seconds

    def reorder(self, window: int, flush_after: float = 0.25) -> None:
        """Shuffle MESSAGE deliveries per connection within windows of `window` (0/1 turns it off).

        A window that is not full after `flush_after` seconds is shuffled and released anyway.
        """
        self.faults.reorder_window = window
        self.faults.reorder_flush = flush_after

    def reset_faults(self) -> None:
        self.faults.reset()
        self._hold_until = 0.0
        self.unpause()

    # -- public: service-side helpers ---------------------------------------------------------------

    def publish(
        self,
        channel: str,
        name: str | None = None,
        data: Any = None,
        *,
        id: str | None = None,
        client_id: str | None = None,
        extras: dict[str, Any] | None = None,
    ) -> str:
        """Publish as the service would (like a REST publish); returns the message serial."""
        if not (data is None or isinstance(data, str | bytes | bytearray | dict | list)):
            raise TypeError("data must be str, bytes, dict, list or None (as the SDK requires)")
        msg: dict[str, Any] = {"id": id or f"srv-{secrets.token_hex(6)}:0"}
        for k, v in (("name", name), ("data", data), ("clientId", client_id), ("extras", extras)):
            if v is not None:
                msg[k] = v
        if isinstance(data, dict | list):
            msg["data"] = json.dumps(data)
            msg["encoding"] = "json"
        serial = self._publish(self._channel(channel), [msg], origin=None, proto_id=None, key=msg["id"])[0]
        assert serial is not None
        return serial

    def history(self, channel: str) -> list[dict[str, Any]]:
        """The channel log, oldest first (copies)."""
        return [dict(m) for m in self._channel(channel).messages]

    def presence_members(self, channel: str) -> list[dict[str, Any]]:
        return [dict(m) for m in self._channel(channel).presence.values()]

    def create_token(
        self, *, client_id: str | None = None, capability: Any = None, ttl_ms: int | None = None
    ) -> str:
        """Issue a token with the default key (for ``token=`` clients, which cannot renew it)."""
        self.counters.tokens_issued += 1
        token = self.auth.issue(
            self.auth.default_key, client_id=client_id, capability=capability, ttl_ms=ttl_ms
        )
        return token.token

    def add_key(self, capability: Any = None) -> str:
        """Create another key (e.g. a restricted one) and return ``appId.keyId:secret``."""
        return self.auth.add_key(capability=capability).key

    def connection_info(self) -> list[dict[str, Any]]:
        return [
            {
                "id": c.id,
                "clientId": c.client_id,
                "connected": c.transport is not None,
                "channels": sorted(c.attached),
                "format": c.fmt,
            }
            for c in self.connections.values()
        ]

    # -- sockets ------------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _on_socket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._sockets.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            while True:
                try:
                    req = await read_request(reader)
                except BadRequest as exc:
                    writer.write(error_response(None, AblyError(40000, 400, str(exc))).serialize(False))
                    break
                if req is None:
                    break
                if req.is_websocket:
                    await self._serve_websocket(req, reader, writer)
                    break
                keep_alive = req.header("connection").lower() != "close"
                after = await self._serve_http(req, writer, keep_alive)
                if after is not None:
                    self._spawn(after())
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # aclose(); asyncio's start_server callback would log a cancelled handler as an error
        except Exception:
            log.exception("ably test server: socket handler failed")
        finally:
            self._sockets.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    # -- HTTP ---------------------------------------------------------------------------------------

    async def _serve_http(
        self, req: HttpRequest, writer: asyncio.StreamWriter, keep_alive: bool
    ) -> Callable[[], Awaitable[None]] | None:
        after: Callable[[], Awaitable[None]] | None = None
        if req.path.startswith("/_control/"):
            resp, after = await self._control(req)
        else:
            await self._running.wait()
            self.counters.http_requests += 1
            resp = await self._route(req)
        writer.write(resp.serialize(keep_alive))
        await writer.drain()
        return after

    # -- control API --------------------------------------------------------------------------------

    # -- websocket ----------------------------------------------------------------------------------

    # -- realtime protocol --------------------------------------------------------------------------

    def _channel(self, name: str) -> Channel:
        channel = self.channels.get(name)
        if channel is None:
            channel = self.channels[name] = Channel(name)
        return channel


_TOKEN_OVERRIDES = ("token", "token_details", "auth_token", "auth_callback", "auth_url")


class ServerAddress(Protocol):
    """Anything with the server's `key` and SDK `endpoint`: `AblyTestServer` or `ControlClient`."""

    @property
    def key(self) -> str: ...

    @property
    def endpoint(self) -> str: ...


def client_options(server: ServerAddress, **overrides: Any) -> dict[str, Any]:
    """Kwargs for ``ably.AblyRealtime(**opts)`` / ``ably.AblyRest(**opts)`` that reach `server`.

    Defaults: the server's key with token auth, ``endpoint="127.0.0.1:{port}/"``, ``tls=False``,
    no fallback hosts (see the module docstring for why each is needed). Overrides win; passing a
    token source (``token``, ``token_details``, ``auth_callback``, ``auth_url``) drops the key
    unless ``key`` is passed too. Timing options worth overriding in tests:
    ``realtime_request_timeout`` (also the grace before an idle/refused connection is given up)
    and ``disconnected_retry_timeout`` (15 s by default between reconnect attempts).
    """
    opts: dict[str, Any] = {
        "key": server.key,
        "endpoint": server.endpoint,
        "tls": False,
        "use_token_auth": True,
        "fallback_hosts": [],
    }
    if any(k in overrides for k in _TOKEN_OVERRIDES) and "key" not in overrides:
        opts.pop("key")
        opts.pop("use_token_auth")
    opts.update(overrides)
    client_id = opts.get("client_id")
    if opts.get("use_token_auth") and opts.get("key") and client_id:
        # AblyRealtime leaves clientId out of the token requests it signs: `Auth.client_id` stays
        # None for realtime (auth.py:38-43) and create_token_request() reads only that and the
        # token params (auth.py:277); the clientId-less token is then rejected with 40102
        # (auth.py:350). Asking for the clientId in the default token params fixes the request.
        opts["default_token_params"] = {"client_id": client_id, **(opts.get("default_token_params") or {})}
    return opts
