"""A local, loopback-only Ably-compatible server the real `ably` 3.1.4 SDK can talk to.

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
import base64
import contextlib
import json
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import unquote_plus, urlencode

from websockets.frames import OP_BINARY, OP_CONT, OP_TEXT, Frame
from websockets.http11 import Request as WsRequest
from websockets.protocol import State
from websockets.server import ServerProtocol

from .auth import AuthRegistry, Credentials, now_ms
from .httpio import BadRequest, HttpRequest, HttpResponse, error_response, read_request, respond
from .protocol import (
    JSON,
    MODE_FLAGS,
    MSGPACK,
    AblyError,
    Action,
    Flag,
    PresenceAction,
    decode,
    encode,
)
from .rules import (
    CHANNEL_RATE_LIMIT,
    IDEMPOTENCY_WINDOW_MS,
    MAX_MESSAGE_SIZE,
    check_size,
    idempotency_key,
)
from .state import Attachment, Channel, Connection, Counters, Faults, serial_of

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: Ably's rules a test may tune at run time (`/_control/rules`); see rules.py.
RULES = (
    "channel_rate_limit",
    "idempotency_window_ms",
    "max_message_size",
    "connection_state_ttl_ms",
    "presence_grace_ms",
)
SYNC_PAGE = 100
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


Handler = Callable[[HttpRequest, "list[str]"], Awaitable[HttpResponse]]


class AblyTestServer:
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
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"^/time$"), self._rest_time),
            ("POST", re.compile(r"^/keys/([^/]+)/requestToken$"), self._rest_request_token),
            ("GET", re.compile(r"^/channels/([^/]+)/messages$"), self._rest_history),
            ("POST", re.compile(r"^/channels/([^/]+)/messages$"), self._rest_publish),
            ("GET", re.compile(r"^/channels/([^/]+)/messages/([^/]+)$"), self._rest_get_message),
            ("GET", re.compile(r"^/channels/([^/]+)/presence$"), self._rest_presence),
            ("GET", re.compile(r"^/channels/([^/]+)/presence/history$"), self._rest_presence_history),
            ("GET", re.compile(r"^/channels/([^/]+)$"), self._rest_channel_details),
            ("GET", re.compile(r"^/stats$"), self._rest_stats),
        ]

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

    async def _route(self, req: HttpRequest) -> HttpResponse:
        try:
            path_known = False
            for method, pattern, handler in self._routes:
                match = pattern.match(req.path)
                if match is None:
                    continue
                path_known = True
                if method == req.method:
                    return await handler(req, [unquote_plus(g) for g in match.groups()])
            if path_known:
                raise AblyError(40500, 405, f"Method {req.method} not allowed on {req.path}")
            raise AblyError(40400, 404, f"No such resource: {req.method} {req.path}")
        except AblyError as err:
            return error_response(req, err)
        except Exception as exc:
            log.exception("ably test server: %s %s failed", req.method, req.path)
            return error_response(req, AblyError(50000, 500, f"Internal error: {exc!r}"))

    def _rest_auth(self, req: HttpRequest) -> Credentials:
        header = req.header("authorization")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                key_string = base64.b64decode(value).decode("utf-8")
            except Exception:
                raise AblyError(40101, 401, "Malformed Basic credentials") from None
            client_id = req.header("x-ably-clientid") or None
            if client_id:
                client_id = base64.b64decode(client_id).decode("utf-8")
            return self.auth.check_key(key_string, client_id)
        if scheme.lower() == "bearer":
            if value in self.auth.tokens:
                return self.auth.check_token(value)
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except Exception:
                decoded = value
            return self.auth.check_token(decoded)
        raise AblyError(40101, 401, "Authentication required (Basic key or Bearer token)")

    @staticmethod
    def _require(creds: Credentials, channel: str, *ops: str) -> None:
        if not any(creds.can(channel, op) for op in ops):
            raise AblyError(
                40160,
                401,
                f"Channel denied access based on given capability ({'/'.join(ops)} on {channel!r})",
            )

    async def _rest_time(self, req: HttpRequest, _: list[str]) -> HttpResponse:
        return respond(req, 200, [now_ms()])

    async def _rest_request_token(self, req: HttpRequest, groups: list[str]) -> HttpResponse:
        basic = self._rest_auth(req) if req.header("authorization") else None
        body = req.json_body() or {}
        if not isinstance(body, dict):
            raise AblyError(40000, 400, "Token request must be an object")
        token = self.auth.request_token(groups[0], body, basic)
        self.counters.tokens_issued += 1
        return respond(req, 200, token.details())

    async def _rest_publish(self, req: HttpRequest, groups: list[str]) -> HttpResponse:
        creds = self._rest_auth(req)
        name = groups[0]
        self._require(creds, name, "publish")
        body = req.json_body()
        messages = body if isinstance(body, list) else [body]
        if not messages or not all(isinstance(m, dict) for m in messages):
            raise AblyError(40000, 400, "Expected a message object or an array of them")
        key = idempotency_key(messages)
        prefix = key or secrets.token_urlsafe(9)
        prepared = []
        for i, m in enumerate(messages):
            msg = {k: v for k, v in m.items() if k not in ("connectionKey", "serial", "action", "version")}
            self._check_message(creds, None, msg)
            if creds.client_id and creds.client_id != "*" and not msg.get("clientId"):
                msg["clientId"] = creds.client_id
            msg.setdefault("id", f"{prefix}:{i}")
            prepared.append(msg)
        channel = self._channel(name)
        serials = self._publish_checked(channel, prepared, origin=None, proto_id=None, key=prefix)
        return respond(req, 201, {"channel": name, "messageId": prefix, "serials": serials})

    async def _rest_history(self, req: HttpRequest, groups: list[str]) -> HttpResponse:
        creds = self._rest_auth(req)
        self._require(creds, groups[0], "history")
        return self._paginate(req, self._channel(groups[0]).messages, "messages")

    async def _rest_get_message(self, req: HttpRequest, groups: list[str]) -> HttpResponse:
        creds = self._rest_auth(req)
        self._require(creds, groups[0], "history")
        for msg in self._channel(groups[0]).messages:
            if msg["serial"] == groups[1]:
                return respond(req, 200, msg)
        raise AblyError(40400, 404, f"No message with serial {groups[1]!r}")

    async def _rest_presence(self, req: HttpRequest, groups: list[str]) -> HttpResponse:
        creds = self._rest_auth(req)
        self._require(creds, groups[0], "subscribe", "presence")
        members = list(self._channel(groups[0]).presence.values())
        if req.query.get("clientId"):
            members = [m for m in members if m.get("clientId") == req.query["clientId"]]
        if req.query.get("connectionId"):
            members = [m for m in members if m.get("connectionId") == req.query["connectionId"]]
        limit = _int(req.query.get("limit"), 100, 1, 1000)
        return respond(req, 200, members[:limit])

    async def _rest_presence_history(self, req: HttpRequest, groups: list[str]) -> HttpResponse:
        creds = self._rest_auth(req)
        self._require(creds, groups[0], "history")
        return self._paginate(req, self._channel(groups[0]).presence_log, "presence/history")

    async def _rest_channel_details(self, req: HttpRequest, groups: list[str]) -> HttpResponse:
        creds = self._rest_auth(req)
        self._require(creds, groups[0], "channel-metadata")
        ch = self._channel(groups[0])
        live = [c for c in ch.subscribers.values() if c.transport is not None]
        metrics = {
            "connections": len(live),
            "publishers": sum(
                1 for c in live if ch.name in c.attached and c.attached[ch.name].modes & Flag.PUBLISH
            ),
            "subscribers": sum(
                1 for c in live if ch.name in c.attached and c.attached[ch.name].modes & Flag.SUBSCRIBE
            ),
            "presenceConnections": len({m["connectionId"] for m in ch.presence.values()}),
            "presenceMembers": len(ch.presence),
            "presenceSubscribers": sum(
                1
                for c in live
                if ch.name in c.attached and c.attached[ch.name].modes & Flag.PRESENCE_SUBSCRIBE
            ),
        }
        status = {"isActive": bool(live or ch.presence), "occupancy": {"metrics": metrics}}
        return respond(req, 200, {"channelId": ch.name, "status": status})

    async def _rest_stats(self, req: HttpRequest, _: list[str]) -> HttpResponse:
        self._rest_auth(req)
        return respond(req, 200, [])

    def _paginate(self, req: HttpRequest, items: list[dict[str, Any]], rel: str) -> HttpResponse:
        """History semantics: newest first unless `direction=forwards`; `limit` (≤1000), `start`/`end` ms."""
        q = req.query
        direction = q.get("direction", "backwards")
        if direction not in ("backwards", "forwards"):
            raise AblyError(40003, 400, f"Invalid direction {direction!r}")
        limit = _int(q.get("limit"), 100, 1, 1000)
        start = _int(q.get("start"), None)
        end = _int(q.get("end"), None)
        cursor = _int(q.get("cursor"), None)
        indexed = list(enumerate(items))
        if start is not None:
            indexed = [(i, m) for i, m in indexed if (m.get("timestamp") or 0) >= start]
        if end is not None:
            indexed = [(i, m) for i, m in indexed if (m.get("timestamp") or 0) <= end]
        if direction == "backwards":
            indexed.reverse()
            if cursor is not None:
                indexed = [(i, m) for i, m in indexed if i < cursor]
        elif cursor is not None:
            indexed = [(i, m) for i, m in indexed if i > cursor]
        page = indexed[:limit]
        headers: dict[str, str] = {}
        base = {k: v for k, v in q.items() if k != "cursor"}
        leaf = rel.rsplit("/", 1)[-1]
        links = [f'<./{leaf}?{urlencode(base)}>; rel="first"']
        if len(indexed) > limit:
            links.append(f'<./{leaf}?{urlencode({**base, "cursor": page[-1][0]})}>; rel="next"')
        headers["Link"] = ", ".join(links)
        return respond(req, 200, [m for _, m in page], headers)

    # -- control API --------------------------------------------------------------------------------

    async def _control(self, req: HttpRequest) -> tuple[HttpResponse, Callable[[], Awaitable[None]] | None]:
        """Tiny JSON API so another process can drive faults; params come from the query or a JSON body."""
        try:
            body = req.json_body() if req.body else {}
        except AblyError as err:
            return error_response(req, err), None
        params: dict[str, Any] = {**req.query, **(body if isinstance(body, dict) else {})}
        op = req.path[len("/_control/") :].strip("/")
        after: Callable[[], Awaitable[None]] | None = None
        result: Any = {"ok": True}
        try:
            if op == "info":
                result = {
                    "port": self.port,
                    "key": self.key,
                    "endpoint": self.endpoint,
                    "paused": self.paused,
                }
            elif op == "counters":
                result = self.counters.snapshot()
            elif op == "reset_counters":
                self.counters.reset()
            elif op == "faults":
                result = self.faults.describe()
            elif op == "rules":
                for name in RULES:
                    if name in params:
                        setattr(self, name, type(getattr(self, name))(params[name]))
                result = {name: getattr(self, name) for name in RULES}
            elif op == "reset_faults":
                self.reset_faults()
            elif op == "drop_connections":
                hold = float(params.get("hold_for", 0))

                async def drop() -> None:
                    await self.drop_connections(hold)

                after = drop
            elif op == "stop":
                seconds = float(params.get("seconds", 0))
                if seconds <= 0:
                    raise AblyError(40000, 400, "stop needs seconds > 0 (nothing could start it again)")

                async def outage() -> None:
                    await self.stop_for(seconds)

                after = outage
            elif op == "pause":
                self.pause_for(float(params["seconds"]))
            elif op == "unpause":
                self.unpause()
            elif op == "duplicate":
                if "next" in params:
                    self.duplicate_next(int(params["next"]))
                if "probability" in params:
                    self.duplicate_probability(float(params["probability"]))
            elif op == "lose":
                self.lose_next(int(params.get("next", 1)))
            elif op == "lose_ack":
                self.lose_ack_next(int(params.get("next", 1)))
            elif op == "nack":
                self.nack_next(int(params["code"]), int(params["status"]), int(params.get("next", 1)))
            elif op == "delay":
                self.delay(float(params["seconds"]))
            elif op == "reorder":
                self.reorder(int(params["window"]), float(params.get("flush_after", 0.25)))
            elif op == "publish":
                serial = self.publish(
                    str(params["channel"]),
                    params.get("name"),
                    params.get("data"),
                    id=params.get("id"),
                    client_id=params.get("clientId"),
                    extras=params.get("extras"),
                )
                result = {"serial": serial}
            elif op == "history":
                result = self.history(str(params["channel"]))
            elif op == "presence":
                result = self.presence_members(str(params["channel"]))
            elif op == "connections":
                result = self.connection_info()
            elif op == "token":
                token = self.auth.issue(
                    self.auth.default_key,
                    client_id=params.get("clientId"),
                    capability=params.get("capability"),
                    ttl_ms=_int(params.get("ttl"), None),
                )
                self.counters.tokens_issued += 1
                result = token.details()
            else:
                raise AblyError(40400, 404, f"Unknown control operation {op!r}")
        except AblyError as err:
            return error_response(req, err), None
        except (KeyError, ValueError, TypeError) as exc:
            return error_response(req, AblyError(40000, 400, f"Bad control request: {exc!r}")), None
        return respond(req, 200, result), after

    # -- websocket ----------------------------------------------------------------------------------

    async def _serve_websocket(
        self, req: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while (wait := self._hold_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        await self._running.wait()
        protocol = ServerProtocol()
        protocol.receive_data(req.head)
        events = protocol.events_received()
        if not events or not isinstance(events[0], WsRequest):
            return
        response = protocol.accept(events[0])
        protocol.send_response(response)
        fmt = MSGPACK if req.query.get("format") == MSGPACK else JSON
        transport = Transport(self, protocol, writer, fmt)
        transport.flush_protocol()
        if response.status_code != 101:
            return
        self._transports.add(transport)
        self.counters.connections += 1
        self.counters.active_connections += 1
        transport.tasks = [
            self._spawn(transport.writer_loop()),
            self._spawn(transport.delay_loop()),
            self._spawn(transport.heartbeat_loop(self.heartbeat_interval_ms / 1000)),
        ]
        try:
            self._open_connection(transport, req.query)
            fragments: list[bytes] = []
            opcode = OP_TEXT
            while not transport.closed:
                data = await reader.read(65536)
                await self._running.wait()
                if not data:
                    protocol.receive_eof()
                    transport.flush_protocol()
                    break
                protocol.receive_data(data)
                transport.flush_protocol()
                for event in protocol.events_received():
                    if not isinstance(event, Frame):
                        continue
                    if event.opcode in (OP_TEXT, OP_BINARY):
                        opcode, fragments = event.opcode, [event.data]
                    elif event.opcode == OP_CONT:
                        fragments.append(event.data)
                    else:
                        continue
                    if not event.fin:
                        continue
                    raw = b"".join(fragments)
                    fragments = []
                    try:
                        msg = decode(raw, MSGPACK if opcode == OP_BINARY else JSON)
                    except Exception:
                        log.warning("ably test server: undecodable frame dropped")
                        continue
                    if isinstance(msg, dict):
                        self._on_protocol_message(transport, msg)
                if protocol.close_rcvd is not None or protocol.state is State.CLOSED:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._transport_closed(transport)

    def _authenticate(self, params: dict[str, str]) -> Credentials:
        client_id = params.get("clientId") or params.get("client_id") or None
        if params.get("key"):
            return self.auth.check_key(params["key"], client_id)
        token = params.get("accessToken") or params.get("access_token")
        if token:
            creds = self.auth.check_token(token)
            if client_id is not None and creds.client_id != client_id:
                if creds.client_id != "*":
                    raise AblyError(
                        40102, 401, f"clientId {client_id!r} is incompatible with the token's clientId"
                    )
                creds = Credentials(key=creds.key, token=creds.token, client_id=client_id)
            return creds
        raise AblyError(40101, 401, "No authentication: pass key or accessToken")

    def _open_connection(self, transport: Transport, params: dict[str, str]) -> None:
        try:
            creds = self._authenticate(params)
        except AblyError as err:
            transport.send({"action": Action.ERROR, "error": err.to_dict()})
            transport.close_after_flush()
            return
        resume_key = params.get("resume") or params.get("recover")
        conn: Connection | None = None
        error: AblyError | None = None
        if resume_key:
            conn = self.connections.get(resume_key)
            if conn is None or conn.closed:
                error = AblyError(
                    80008, 400, "Unable to resume connection: unknown or expired connection key"
                )
                conn = None
            elif conn.creds.key.name != creds.key.name or conn.client_id != creds.client_id:
                error = AblyError(80019, 400, "Unable to resume connection: credentials differ")
                conn = None
            if conn is None:
                self.counters.resume_failed += 1
            else:
                self.counters.resumed += 1
                conn.cancel_timers()
                old = conn.transport
                if old is not None and old is not transport:
                    old.conn = None
                    old.abort()
                conn.creds = creds
                for att in conn.attached.values():
                    att.live = False  # until the client re-ATTACHes with its channelSerial
        if conn is None:
            conn = Connection.new(creds, creds.client_id, transport.fmt)
            self.connections[conn.key] = conn
        conn.transport = transport
        conn.fmt = transport.fmt
        conn.echo = params.get("echo", "true").lower() != "false"
        transport.conn = conn
        msg: dict[str, Any] = {
            "action": Action.CONNECTED,
            "connectionId": conn.id,
            "connectionDetails": self._connection_details(conn),
        }
        if error is not None:
            msg["error"] = error.to_dict()
        transport.send(msg)
        self._arm_token_expiry(transport)

    def _connection_details(self, conn: Connection) -> dict[str, Any]:
        details: dict[str, Any] = {
            "connectionKey": conn.key,
            "maxIdleInterval": self.max_idle_interval_ms,
            "connectionStateTtl": self.connection_state_ttl_ms,
            "maxMessageSize": self.max_message_size,
            "maxFrameSize": 1_048_576,
            "maxInboundRate": 10_000,
            "serverId": "ably-test-server",
        }
        if conn.client_id:
            details["clientId"] = conn.client_id
        return details

    def _arm_token_expiry(self, transport: Transport) -> None:
        if transport.token_timer is not None:
            transport.token_timer.cancel()
            transport.token_timer = None
        conn = transport.conn
        if conn is None or conn.creds.token is None:
            return
        delay = max(conn.creds.token.expires - now_ms(), 0) / 1000

        def expire() -> None:
            err = AblyError(40142, 401, "Token expired")
            transport.send({"action": Action.DISCONNECTED, "error": err.to_dict()})
            transport.close_after_flush()

        transport.token_timer = asyncio.get_running_loop().call_later(delay, expire)

    def _transport_closed(self, transport: Transport) -> None:
        if transport.closed:
            return
        transport.closed = True
        self._transports.discard(transport)
        self.counters.active_connections -= 1
        transport.outq.put_nowait(_CLOSE)
        transport.delay_wakeup.set()
        for handle in (transport.reorder_timer, transport.token_timer):
            if handle is not None:
                handle.cancel()
        for task in transport.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            transport.writer.close()
        conn = transport.conn
        if conn is None or conn.transport is not transport:
            return
        conn.transport = None
        if conn.closed:
            return
        loop = asyncio.get_running_loop()
        conn.expiry = loop.call_later(self.connection_state_ttl_ms / 1000, self._expire_connection, conn)
        conn.presence_grace = loop.call_later(self.presence_grace_ms / 1000, self._presence_timeout, conn)

    def _presence_timeout(self, conn: Connection) -> None:
        conn.presence_grace = None
        if conn.transport is None:
            self._leave_all(conn)

    def _expire_connection(self, conn: Connection) -> None:
        conn.expiry = None
        if conn.transport is None:
            self._discard_connection(conn)

    def _discard_connection(self, conn: Connection) -> None:
        conn.closed = True
        conn.cancel_timers()
        self._leave_all(conn)
        for name in list(conn.attached):
            ch = self.channels.get(name)
            if ch is not None:
                ch.subscribers.pop(conn.id, None)
        conn.attached.clear()
        self.connections.pop(conn.key, None)

    # -- realtime protocol --------------------------------------------------------------------------

    def _on_protocol_message(self, transport: Transport, msg: dict[str, Any]) -> None:
        conn = transport.conn
        if conn is None:
            return
        action = msg.get("action")
        try:
            if action == Action.HEARTBEAT:
                self.counters.pings += 1
                reply: dict[str, Any] = {"action": Action.HEARTBEAT}
                if msg.get("id") is not None:
                    reply["id"] = msg["id"]
                transport.send(reply)
            elif action == Action.MESSAGE:
                self._on_message(conn, msg)
            elif action == Action.PRESENCE:
                self._on_presence(conn, msg)
            elif action == Action.ATTACH:
                self._on_attach(conn, msg)
            elif action == Action.DETACH:
                self._on_detach(conn, msg)
            elif action == Action.CLOSE:
                transport.send({"action": Action.CLOSED})
                transport.close_after_flush()
                self.counters.closed += 1
                self._discard_connection(conn)
            elif action == Action.AUTH:
                self._on_auth(transport, conn, msg)
            else:
                log.debug("ably test server: ignoring action %r", action)
        except Exception:
            log.exception("ably test server: failed handling %r", msg)

    def _nack(self, conn: Connection, msg: dict[str, Any], err: AblyError) -> None:
        self.counters.nacked += 1
        if conn.transport is not None:
            conn.transport.send(
                {
                    "action": Action.NACK,
                    "msgSerial": msg.get("msgSerial", 0),
                    "count": 1,
                    "error": err.to_dict(),
                }
            )

    def _ack(self, conn: Connection, msg: dict[str, Any], res: dict[str, Any] | None = None) -> None:
        if self.faults.lose_ack_next > 0:
            self.faults.lose_ack_next -= 1
            self.counters.acks_lost += 1
            return
        self.counters.acked += 1
        if conn.transport is not None:
            ack: dict[str, Any] = {"action": Action.ACK, "msgSerial": msg.get("msgSerial", 0), "count": 1}
            if res is not None:
                ack["res"] = [res]
            conn.transport.send(ack)

    def _check_message(self, creds: Credentials, conn: Connection | None, msg: dict[str, Any]) -> None:
        client_id = msg.get("clientId")
        if client_id == "*":
            raise AblyError(40012, 400, "Wildcard clientId cannot be used in a message")
        if client_id is not None and not creds.may_use_client_id(client_id):
            raise AblyError(
                40012, 400, f"Message clientId {client_id!r} is incompatible with the credentials"
            )

    def _on_message(self, conn: Connection, msg: dict[str, Any]) -> None:
        name = msg.get("channel")
        messages = msg.get("messages")
        if not isinstance(name, str) or not isinstance(messages, list) or not messages:
            self._nack(conn, msg, AblyError(40000, 400, "MESSAGE needs a channel and messages"))
            return
        if not conn.creds.can(name, "publish"):
            self._nack(conn, msg, AblyError(40160, 401, f"Publish denied on channel {name!r} by capability"))
            return
        msg_serial = msg.get("msgSerial", 0)
        prepared = []
        if self.faults.nack_next:
            fault_code, fault_status = self.faults.nack_next.pop(0)
            self._nack(conn, msg, AblyError(fault_code, fault_status, f"Injected fault {fault_code}"))
            return
        try:
            if not all(isinstance(m, dict) for m in messages):
                raise AblyError(40000, 400, "Each message must be an object")
            # No client ids: the connection and msgSerial are the key (a re-send after a resume is
            # dropped, as Ably does); ids are then <key>:<index>.
            key = idempotency_key(messages) or f"{conn.id}:{msg_serial}"
            for i, m in enumerate(messages):
                self._check_message(conn.creds, conn, m)
                out = {
                    k: v for k, v in m.items() if k not in ("connectionKey", "serial", "action", "version")
                }
                out.setdefault("id", f"{key}:{i}")
                if not out.get("clientId") and conn.client_id and conn.client_id != "*":
                    out["clientId"] = conn.client_id
                out["connectionId"] = conn.id
                prepared.append(out)
            serials = self._publish_checked(
                self._channel(name), prepared, origin=conn, proto_id=f"{conn.id}:{msg_serial}", key=key
            )
        except AblyError as err:
            self._nack(conn, msg, err)
            return
        self._ack(conn, msg, {"serials": serials})

    def _publish_checked(
        self,
        channel: Channel,
        messages: list[dict[str, Any]],
        origin: Connection | None,
        proto_id: str | None,
        key: str,
    ) -> list[str | None]:
        """A client's publish under Ably's rules (see rules.py): a repeated key within the idempotency
        window is acknowledged with the original serials; otherwise size and channel rate are checked
        (raising AblyError 40009 / 42913) before the messages are appended."""
        repeat = channel.idempotency.lookup(key, self.idempotency_window_ms)
        if repeat is not None:
            self.counters.idempotent_dropped += len(messages)
            return repeat
        check_size(messages, self.max_message_size)
        try:
            channel.rate.take(len(messages), self.channel_rate_limit, channel.name)
        except AblyError:
            self.counters.rate_limited += len(messages)
            raise
        return self._publish(channel, messages, origin, proto_id, key)

    def _publish(
        self,
        channel: Channel,
        messages: list[dict[str, Any]],
        origin: Connection | None,
        proto_id: str | None,
        key: str | None,
    ) -> list[str | None]:
        """Append to the log under one idempotency key (a repeat inside the window is dropped) and fan out."""
        if key is not None and (repeat := channel.idempotency.lookup(key, self.idempotency_window_ms)):
            self.counters.idempotent_dropped += len(messages)
            return repeat
        serials: list[str | None] = []
        fresh: list[dict[str, Any]] = []
        now = now_ms()
        for m in messages:
            serial = serial_of(len(channel.messages) + 1)
            stored = {**m, "serial": serial, "action": 0, "timestamp": m.get("timestamp") or now}
            channel.messages.append(stored)
            fresh.append(stored)
            serials.append(serial)
            self.counters.published += 1
        if key is not None:
            channel.idempotency.remember(key, serials, self.idempotency_window_ms)
        if fresh:
            proto: dict[str, Any] = {
                "action": Action.MESSAGE,
                "channel": channel.name,
                "channelSerial": fresh[-1]["serial"],
                "timestamp": now,
                "messages": fresh,
            }
            if proto_id is not None:
                proto["id"] = proto_id
            if origin is not None:
                proto["connectionId"] = origin.id
            for conn in list(channel.subscribers.values()):
                att = conn.attached.get(channel.name)
                if att is None or not att.live or not att.modes & Flag.SUBSCRIBE:
                    continue
                if origin is conn and not conn.echo:
                    continue
                if conn.transport is None:
                    self.counters.undeliverable += len(fresh)
                    continue
                conn.transport.deliver(proto, len(fresh))
        return serials

    def _allowed_modes(self, creds: Credentials, name: str) -> int:
        modes = 0
        if creds.can(name, "publish"):
            modes |= Flag.PUBLISH
        if creds.can(name, "subscribe"):
            modes |= Flag.SUBSCRIBE | Flag.PRESENCE_SUBSCRIBE
        if creds.can(name, "presence"):
            modes |= Flag.PRESENCE
        return modes

    def _on_attach(self, conn: Connection, msg: dict[str, Any]) -> None:
        name = msg.get("channel")
        transport = conn.transport
        if not isinstance(name, str) or transport is None:
            return
        if not conn.creds.can_attach(name):
            err = AblyError(40160, 401, f"Channel denied access based on given capability ({name!r})")
            transport.send({"action": Action.ERROR, "channel": name, "error": err.to_dict()})
            return
        channel = self._channel(name)
        flags = int(msg.get("flags") or 0)
        modes = self._allowed_modes(conn.creds, name)
        if flags & MODE_FLAGS:
            modes &= flags & MODE_FLAGS
        params = msg.get("params") or {}
        replay: list[dict[str, Any]] = []
        resumed = False
        attach_serial = channel.last_serial
        requested = msg.get("channelSerial")
        # Continuity survives only with the connection's state (Ably: about 2 minutes): a channel resumes
        # from its serial when this logical connection had it attached, i.e. after a successful
        # connection resume. After a failed resume (new connection, 80008) it attaches afresh: no
        # RESUMED flag, no replay -- the client has lost continuity and must catch up by itself.
        if requested and name not in conn.attached:
            self.counters.continuity_lost += 1
            requested = None
        if requested:
            after = channel.after(str(requested))
            if after is not None:
                replay, resumed, attach_serial = after, True, str(requested)
                self.counters.channel_resumes += 1
        elif isinstance(params, dict) and str(params.get("rewind", "")).isdigit():
            count = int(params["rewind"])
            if count:
                replay = channel.messages[-count:]
                attach_serial = serial_of(len(channel.messages) - len(replay))
        conn.attached[name] = Attachment(modes=modes, live=True)
        channel.subscribers[conn.id] = conn
        self.counters.attached += 1
        has_presence = bool(channel.presence) and bool(modes & Flag.PRESENCE_SUBSCRIBE)
        out_flags = modes | (Flag.RESUMED if resumed else 0) | (Flag.HAS_PRESENCE if has_presence else 0)
        attached: dict[str, Any] = {
            "action": Action.ATTACHED,
            "channel": name,
            "channelSerial": attach_serial,
            "flags": int(out_flags),
        }
        if params:
            attached["params"] = params
        transport.send(attached)
        if has_presence:
            members = list(channel.presence.values())
            sync_id = secrets.token_hex(4)
            pages = [members[i : i + SYNC_PAGE] for i in range(0, len(members), SYNC_PAGE)]
            for n, page in enumerate(pages):
                cursor = str(n + 1) if n + 1 < len(pages) else ""
                transport.send(
                    {
                        "action": Action.SYNC,
                        "channel": name,
                        "channelSerial": f"{sync_id}:{cursor}",
                        "presence": page,
                    }
                )
        if modes & Flag.SUBSCRIBE:
            for m in replay:
                if not conn.echo and m.get("connectionId") == conn.id:
                    continue
                self.counters.replayed += 1
                transport.deliver(
                    {
                        "action": Action.MESSAGE,
                        "channel": name,
                        "channelSerial": m["serial"],
                        "messages": [m],
                    },
                    1,
                )

    def _on_detach(self, conn: Connection, msg: dict[str, Any]) -> None:
        name = msg.get("channel")
        if not isinstance(name, str):
            return
        conn.attached.pop(name, None)
        channel = self.channels.get(name)
        if channel is not None:
            channel.subscribers.pop(conn.id, None)
            self._leave_members(channel, channel.members_of(conn.id))
        self.counters.detached += 1
        if conn.transport is not None:
            conn.transport.send({"action": Action.DETACHED, "channel": name})

    def _on_presence(self, conn: Connection, msg: dict[str, Any]) -> None:
        name = msg.get("channel")
        items = msg.get("presence")
        if not isinstance(name, str) or not isinstance(items, list):
            self._nack(conn, msg, AblyError(40000, 400, "PRESENCE needs a channel and presence messages"))
            return
        if not conn.creds.can(name, "presence"):
            self._nack(conn, msg, AblyError(40160, 401, f"Presence denied on channel {name!r} by capability"))
            return
        if name not in conn.attached:
            self._nack(conn, msg, AblyError(90001, 400, f"Channel {name!r} is not attached"))
            return
        channel = self._channel(name)
        msg_serial = msg.get("msgSerial", 0)
        now = now_ms()
        entries = []
        for i, p in enumerate(items):
            client_id = p.get("clientId") or conn.client_id
            action = p.get("action")
            if not client_id or client_id == "*":
                self._nack(conn, msg, AblyError(40012, 400, "Presence needs a clientId"))
                return
            if client_id != conn.client_id and not conn.creds.may_use_client_id(client_id):
                self._nack(conn, msg, AblyError(40012, 400, f"clientId {client_id!r} not allowed"))
                return
            if action not in (PresenceAction.ENTER, PresenceAction.UPDATE, PresenceAction.LEAVE):
                self._nack(conn, msg, AblyError(40000, 400, f"Invalid presence action {action!r}"))
                return
            entry = {k: v for k, v in p.items() if k in ("data", "encoding", "extras") and v is not None}
            entry.update(
                action=action,
                id=p.get("id") or f"{conn.id}:{msg_serial}:{i}",
                clientId=client_id,
                connectionId=conn.id,
                timestamp=now,
            )
            entries.append(entry)
        events = []
        for entry in entries:
            key = f"{conn.id}:{entry['clientId']}"
            existing = channel.presence.get(key)
            if entry["action"] == PresenceAction.LEAVE:
                if channel.presence.pop(key, None) is not None:
                    events.append(entry)
                continue
            same = existing is not None and all(existing.get(k) == entry.get(k) for k in ("data", "encoding"))
            if existing is not None and entry["action"] == PresenceAction.ENTER and same:
                continue  # a re-enter (e.g. after re-attach) of an unchanged member is a no-op
            channel.presence[key] = {**entry, "action": PresenceAction.PRESENT}
            kind = PresenceAction.UPDATE if existing is not None else PresenceAction.ENTER
            events.append({**entry, "action": kind})
        self._ack(conn, msg)
        self._broadcast_presence(channel, events, conn)

    def _broadcast_presence(
        self, channel: Channel, events: list[dict[str, Any]], origin: Connection | None
    ) -> None:
        if not events:
            return
        channel.presence_log.extend(events)
        self.counters.presence_events += len(events)
        proto: dict[str, Any] = {
            "action": Action.PRESENCE,
            "channel": channel.name,
            "timestamp": now_ms(),
            "presence": events,
        }
        if origin is not None:
            proto["connectionId"] = origin.id
        for conn in list(channel.subscribers.values()):
            att = conn.attached.get(channel.name)
            if att is None or not att.live or not att.modes & Flag.PRESENCE_SUBSCRIBE:
                continue
            if conn.transport is not None:
                conn.transport.send(proto)

    def _leave_members(self, channel: Channel, keys: list[str]) -> None:
        """Server-side LEAVE (detach, close, timeout) with a synthesized id, as Ably does."""
        now = now_ms()
        events = []
        for key in keys:
            member = channel.presence.pop(key, None)
            if member is None:
                continue
            events.append(
                {
                    **{
                        k: v
                        for k, v in member.items()
                        if k in ("clientId", "connectionId", "data", "encoding")
                    },
                    "action": PresenceAction.LEAVE,
                    "id": f"synthesized-{secrets.token_hex(4)}:0:0",
                    "timestamp": now,
                }
            )
        self._broadcast_presence(channel, events, None)

    def _leave_all(self, conn: Connection) -> None:
        for channel in self.channels.values():
            keys = channel.members_of(conn.id)
            if keys:
                self._leave_members(channel, keys)

    def _on_auth(self, transport: Transport, conn: Connection, msg: dict[str, Any]) -> None:
        auth = msg.get("auth") or {}
        try:
            if auth.get("accessToken"):
                creds = self.auth.check_token(str(auth["accessToken"]))
            elif auth.get("key"):
                creds = self.auth.check_key(str(auth["key"]), conn.client_id)
            else:
                raise AblyError(40101, 401, "AUTH carries no credentials")
            if conn.client_id and creds.client_id not in (conn.client_id, "*"):
                raise AblyError(40102, 401, "Re-auth cannot change the connection's clientId")
        except AblyError as err:
            transport.send({"action": Action.ERROR, "error": err.to_dict()})
            transport.close_after_flush()
            return
        if creds.client_id == "*" or (creds.client_id is None and conn.client_id):
            creds = Credentials(key=creds.key, token=creds.token, client_id=conn.client_id)
        conn.creds = creds
        transport.send(
            {
                "action": Action.CONNECTED,
                "connectionId": conn.id,
                "connectionDetails": self._connection_details(conn),
            }
        )
        self._arm_token_expiry(transport)

    def _channel(self, name: str) -> Channel:
        channel = self.channels.get(name)
        if channel is None:
            channel = self.channels[name] = Channel(name)
        return channel


def _int(value: Any, default: Any, lo: int | None = None, hi: int | None = None) -> Any:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise AblyError(40003, 400, f"Expected an integer, got {value!r}") from None
    if lo is not None and n < lo:
        raise AblyError(40003, 400, f"{n} is below {lo}")
    if hi is not None and n > hi:
        raise AblyError(40003, 400, f"{n} is above {hi}")
    return n


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
