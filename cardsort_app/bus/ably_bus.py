"""AblyBus: the event bus on Ably's realtime service (the `ably` package), used when ABLY_API_KEY is set.

Ably is the fan-out between backend workers (and to outside subscribers); it is never the source of
truth. The SQL log is: a subscriber applies events by ``seq``, drops repeats and fetches gaps from the log
(`SessionHub.receive`), and after any reconnect or re-attach the bus asks the owner to catch up from the
log (`on_resync`), so nothing depends on Ably delivering every message exactly once.

Channels and messages
    * ``sessions:{code}``: the session's sequenced events. One message carries one event (``name`` =
      the event type, ``id`` = ``{code}:{seq}``, ``data`` = `Event.to_wire()`) or one contiguous seq
      range (``name`` = ``events``, ``id`` = ``{code}:{first}-{last}``, ``data`` = ``{"events": [...]}``),
      published one message per publish so each id is its own idempotency key (Ably's 40031 rule);
      see `cardsort_app.bus.ably_wire`. Publishes are paced under the channel's rate limit.
    * ``sessions:{code}:debug``: diagnostics (rejections, conflicts, catch-ups, relay retries, malformed
      messages); ``name`` = the kind, ``data`` = a JSON object. Best effort, never awaited by callers.
    * Presence on ``sessions:{code}`` (client id = participant id) says who is online: see
      `cardsort_app.bus.ably_presence.AblyPresence` (``bus.presence``).

Selective subscriptions: a worker attaches ``sessions:{code}`` only while something holds it (a hub
subscription or a local tab's presence) and detaches -- and releases the SDK channel -- when the last
holder lets go. Publishing does not attach. The connection and the held channels live in one core,
`cardsort_app.bus.ably_channels.AblyChannels` (``bus.channels``); the bus and the presence both hold
channels through it and listen to it, and never call each other.

Errors: `cardsort_app.bus.ably_errors` sorts them (transient / token renewal / permanent); see
`publish_many` and `health`.

The bus's own connection must be able to enter presence on behalf of any participant: with key auth
(the default) that needs nothing more; with token auth the bus asks for a wildcard (``*``) clientId.

Environment (read and validated with every other setting by `cardsort_app.settings`; the composition
root, `cardsort_app.bootstrap.make_bus`, hands them to `AblyBus`; every variable but the key is
optional; times in milliseconds):

``ABLY_API_KEY``
    ``appId.keyId:secret``. Without it the app keeps the in-process bus and presence.
``ABLY_ENDPOINT``
    SDK ``endpoint``: a routing policy name or a host; default Ably's production endpoint. A local
    Ably-compatible server needs ``127.0.0.1:PORT/``: the port inside the host string (ably 3.1.4's
    realtime transport ignores ``port``) and the trailing slash (its REST client needs it).
``ABLY_TLS``
    ``1`` (default) or ``0`` for plain ``ws://`` / ``http://``.
``ABLY_USE_TOKEN_AUTH``
    ``0`` (default): the key authenticates the realtime connection. ``1``: the SDK signs token requests
    with the key (needed where Basic auth is refused, e.g. REST over plain http); the bus then asks for
    a wildcard clientId so it may enter presence for participants.
``ABLY_REALTIME_REQUEST_TIMEOUT_MS``
    SDK ``realtime_request_timeout`` (here 5000, SDK default 10000); also how long a refused
    connection attempt hangs before the SDK gives up on it (an SDK quirk).
``ABLY_DISCONNECTED_RETRY_TIMEOUT_MS``
    SDK ``disconnected_retry_timeout`` (here 2000, SDK default 15000): the pause between reconnects.
``ABLY_CHANNEL_RETRY_TIMEOUT_MS``
    SDK ``channel_retry_timeout`` (here 5000, SDK default 15000).
``ABLY_PUBLISH_TIMEOUT_MS``
    How long `publish` waits for the ACK before raising (default 5000). The SDK still sends a message
    it queued while disconnected once it reconnects; the caller's retry of the same ``seq`` is dropped
    by its id (and waits for the queued copy rather than queueing another).
``ABLY_CONNECT_TIMEOUT_MS``
    How long `start` waits for the first connection (default 10000); past it `start` returns and the
    SDK keeps trying in the background (`healthy()` says False meanwhile).
``ABLY_CHANNEL_RATE``
    Messages per second the bus publishes on one channel at most (default 50, Ably's per-channel
    limit; error 42913 beyond it). The limit is shared by every publisher of the channel: with N
    workers set it to the limit / N (a 42913 that still happens is retried with backoff). A backlog is
    packed into fewer, larger messages rather than sent
    faster; see `cardsort_app.bus.ably_wire`.
``ABLY_MAX_MESSAGE_BYTES``
    Ably's maximum message size for the account (default 65536); packed ranges are split under it.
``ABLY_ATTACH_TIMEOUT_MS``
    How long `subscribe` waits for the channel to attach (default 5000); past it the subscription
    stands, the SDK keeps attaching, and the attach triggers a resync.

Presence timing: a tab that closes leaves at once; a worker that dies abruptly keeps its members until
Ably's presence grace expires (about 15 s on Ably's service; the local test server's is configurable).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cardsort_app import metrics
from cardsort_app.bus.ably_channels import AblyChannels, channel_name, state_of
from cardsort_app.bus.ably_errors import BusUnavailable, Pacer, classify, error_code
from cardsort_app.bus.ably_wire import MessageTooLarge, pack, unpack
from cardsort_app.domain.events import Event
from cardsort_app.service.bus_port import BusHealth, Handler, PublishError, ResyncCallback

log = logging.getLogger(__name__)

#: SDK options the bus sets unless the caller does (faster recovery than the SDK's defaults).
SDK_DEFAULTS: dict[str, Any] = {
    "realtime_request_timeout": 5000,
    "disconnected_retry_timeout": 2000,
    "channel_retry_timeout": 5000,
}

#: How long the bus reports ``degraded`` after Ably refused a publish for good.
DEGRADED_FOR_S = 300.0
_TOKEN_SOURCES = ("token", "token_details", "auth_token", "auth_callback", "auth_url")
_MAX_DEBUG_IN_FLIGHT = 200


def debug_channel_name(code: str) -> str:
    return f"sessions:{code}:debug"


def _json_safe(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON object the SDK can send (it only takes str/bytes/dict/list data)."""
    try:
        return json.loads(json.dumps(dict(detail), default=str))
    except (TypeError, ValueError):
        return {"detail": str(detail)[:1000]}


class _Subscription:
    def __init__(self, bus: AblyBus, code: str, handler: Handler) -> None:
        self.bus = bus
        self.session_code = code
        self.handler = handler
        self.closed = False

    async def close(self) -> None:
        """Stop delivering; the last holder of the channel detaches it (selective subscriptions)."""
        if self.closed:
            return
        self.closed = True
        await self.bus._unsubscribe(self)


@dataclass(eq=False)
class _Session:
    """This bus's subscriptions to one session and their delivery queue (one consumer, arrival order)."""

    subs: set[_Subscription] = field(default_factory=set)
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    consumer: asyncio.Task[None] | None = None


_STOP = object()


class AblyBus:
    """`EventBus` on Ably; see the module docstring. Build with `AblyBus(client_options, ...)`
    (the composition root does, from the settings).

    `client_options` are keyword arguments for ``ably.AblyRealtime`` (``key``, ``endpoint``, ``tls``,
    ``use_token_auth``, timeouts ...). The realtime client is created in `start()` (inside the running
    loop); every other coroutine starts the bus on first use.
    """

    def __init__(
        self,
        client_options: Mapping[str, Any],
        *,
        publish_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        attach_timeout: float = 5.0,
        detach_timeout: float = 3.0,
        presence_timeout: float = 5.0,
        debug_timeout: float = 3.0,
        channel_rate: float = 50.0,
        max_message_bytes: int = 65_536,
    ) -> None:
        from cardsort_app.bus.ably_presence import AblyPresence

        self._client_options = dict(client_options)
        if not (self._client_options.get("key") or any(self._client_options.get(k) for k in _TOKEN_SOURCES)):
            raise ValueError("AblyBus needs a key (or a token source) in its client options")
        self.publish_timeout = publish_timeout
        self.connect_timeout = connect_timeout
        self.attach_timeout = attach_timeout
        self.detach_timeout = detach_timeout
        self.presence_timeout = presence_timeout
        self.debug_timeout = debug_timeout
        self.channel_rate = channel_rate
        self.max_message_bytes = max_message_bytes
        self._pacers: dict[str, Pacer] = {}
        self._degraded: tuple[float, str] | None = None
        self._logged_codes: set[int | None] = set()
        self._renewing: asyncio.Task[Any] | None = None
        self._sessions: dict[str, _Session] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._resync_callbacks: list[ResyncCallback] = []
        self._resyncing: dict[str, asyncio.Task[None]] = {}
        self._resync_again: set[str] = set()
        self._inflight: dict[str, asyncio.Task[Any]] = {}
        self._debug_in_flight = 0
        self.stats: dict[str, int] = defaultdict(int)
        #: The connection and the channels it holds, shared with the presence (neither calls the other).
        self.channels = AblyChannels(
            self.sdk_options(),
            connect_timeout=connect_timeout,
            attach_timeout=attach_timeout,
            detach_timeout=detach_timeout,
            stats=self.stats,
        )
        self.channels.listen(self)
        self.presence = AblyPresence(self.channels, presence_timeout=presence_timeout)

    def sdk_options(self) -> dict[str, Any]:
        """The kwargs `start()` passes to ``ably.AblyRealtime``."""
        opts = {**SDK_DEFAULTS, **self._client_options}
        if opts.get("use_token_auth") and opts.get("key"):
            # The bus enters presence on behalf of participants, so a token must allow any clientId.
            # ably 3.1.4 quirks: a realtime client leaves clientId out of the token requests it signs
            # unless it is in default_token_params, and a '*' token only lets enter_client() name other
            # clients when client_id='*' is configured too (Auth._configure_client_id keeps None
            # otherwise, and can_assume_client_id() then refuses every clientId).
            client_id = opts.setdefault("client_id", "*")
            opts["default_token_params"] = {
                "client_id": client_id,
                **(opts.get("default_token_params") or {}),
            }
        return opts

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Create the realtime client and wait (bounded) for it to connect. Idempotent.

        Raises BusUnavailable if the connection fails for good (e.g. a rejected key); a connection that
        is merely slow or refused keeps retrying in the background after `connect_timeout`.
        """
        await self.channels.start()

    @property
    def _client(self) -> Any:
        return self.channels.client

    async def healthy(self) -> bool:
        return self.channels.connection_state() == "connected"

    async def close(self) -> None:
        if self.channels.closed:
            return
        await self.presence.close()
        for session in self._sessions.values():
            session.queue.put_nowait(_STOP)
        self._sessions.clear()
        await self.channels.close()

    def _spawn(self, coro: Awaitable[Any], *, quiet: bool = False) -> asyncio.Task[Any]:
        return self.channels.spawn(coro, quiet=quiet)

    # --- publishing -----------------------------------------------------------------------------------
    async def publish(self, event: Event) -> None:
        """Publish one sequenced event and wait for Ably's ACK (see `publish_many`)."""
        await self.publish_many([event])

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Publish sequenced events of one session and wait for every ACK.

        The events are packed into messages of contiguous seq ranges under the size limit
        (`cardsort_app.bus.ably_wire`), each published on its own with its own id, paced under the
        channel's publish rate. Nothing is handed to the SDK while disconnected (its queue would
        burst past the rate limit on reconnect). Raises PublishError: ``retryable`` for transient
        failures (BusUnavailable), not retryable when Ably refused the messages for good (the bus then
        reports itself degraded).
        """
        if not events:
            return
        from ably.types.message import Message

        codes = {e.session_code for e in events}
        if len(codes) != 1 or any(e.seq is None for e in events):
            raise ValueError("publish_many takes sequenced events of one session")
        (code,) = codes
        try:
            packed = pack(events, self.max_message_bytes)
        except MessageTooLarge as exc:
            raise self._refused(code, exc, 40009) from exc
        client = await self.channels.ready()
        if not await self.channels.wait_connected(self.publish_timeout, quiet=True):
            self.stats["publish_timeouts"] += 1
            raise BusUnavailable(
                f"not connected to Ably (connection {state_of(client.connection)}); {code} seq "
                f"{packed[0].first}.. waits"
            )
        channel = self.channels.publish_channel(channel_name(code))
        pacer = self._pacer(code)
        tasks: list[asyncio.Task[Any]] = []
        for p in packed:
            task = self._inflight.get(p.id)
            if task is None or task.done():
                # One SDK publish per id at a time: a retry while the first is still queued waits for it.
                await pacer.wait()
                task = asyncio.ensure_future(channel.publish(Message(name=p.name, data=p.data, id=p.id)))
                self._inflight[p.id] = task
                task.add_done_callback(lambda t, mid=p.id: self._publish_done(mid, t))
                self.stats["messages_sent"] += 1
            tasks.append(task)
        self.channels.forget_unheld(channel)
        _, pending = await asyncio.wait(tasks, timeout=self.publish_timeout)
        if pending:
            self.stats["publish_timeouts"] += 1
            raise BusUnavailable(
                f"no ACK for {code} seq {packed[0].first}..{packed[-1].last} within "
                f"{self.publish_timeout:.1f}s (connection {state_of(client.connection)})"
            )
        for task in tasks:
            if (exc := task.exception()) is not None:
                self.stats["publish_failures"] += 1
                raise self._publish_failed(code, exc) from exc
        self.stats["published"] += len(events)

    def _pacer(self, name: str) -> Pacer:
        pacer = self._pacers.get(name)
        if pacer is None:
            pacer = self._pacers[name] = Pacer(self.channel_rate)
        return pacer

    def _publish_failed(self, code: str, exc: BaseException) -> PublishError:
        """The PublishError for a failed publish, by kind (see `ably_errors.classify`)."""
        kind = classify(exc)
        ably_code = error_code(exc)
        if kind == "renew":
            self.stats["token_renewals"] += 1
            self._renew_token()
            return BusUnavailable(f"token expired ({ably_code}) publishing {code}; renewing", code=ably_code)
        if kind == "transient":
            return BusUnavailable(f"publish of {code} failed ({ably_code}): {exc}", code=ably_code)
        return self._refused(code, exc, ably_code)

    def _refused(self, code: str, exc: BaseException, ably_code: int | None) -> PublishError:
        """Ably refused for good: loud once per error code, health degraded, never retried."""
        self.stats["publish_refused"] += 1
        reason = f"Ably refused a publish on {channel_name(code)} with error {ably_code}: {exc}"
        self._degraded = (time.monotonic(), reason[:300])
        if ably_code not in self._logged_codes:
            self._logged_codes.add(ably_code)
            log.error("ably: %s; other workers catch up from the log (reported once per error code)", reason)
        else:
            log.debug("ably: %s", reason)
        return PublishError(reason, retryable=False, code=ably_code)

    def _renew_token(self) -> None:
        """Ask the SDK for a new token (once at a time); the caller retries the publish."""
        if self._renewing is not None and not self._renewing.done():
            return
        client = self._client
        if client is None:
            return
        renewal = asyncio.wait_for(client.auth.authorize(), self.publish_timeout)
        self._renewing = self._spawn(renewal, quiet=True)

    def health(self) -> BusHealth:
        """("error", why) while not connected; ("degraded", why) for `DEGRADED_FOR_S` after Ably refused a
        publish for good; else ("ok", None)."""
        state = self.channels.connection_state()
        if state == "initialized":
            return ("error", "not started")
        if state != "connected":
            return ("error", f"Ably connection {state}")
        if self._degraded is not None and time.monotonic() - self._degraded[0] < DEGRADED_FOR_S:
            return ("degraded", self._degraded[1])
        return ("ok", None)

    def _publish_done(self, mid: str, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(mid) is task:
            del self._inflight[mid]
        if not task.cancelled():
            task.exception()  # retrieved: a late failure is the caller's retry's business

    async def debug(self, code: str, kind: str, detail: Mapping[str, Any]) -> None:
        """Best effort diagnostic on ``sessions:{code}:debug`` (name = kind). Never raises, never blocks."""
        try:
            if (
                self.channels.closed
                or self._debug_in_flight >= _MAX_DEBUG_IN_FLIGHT
                or not self._pacer(debug_channel_name(code)).try_take()
            ):
                self.stats["debug_dropped"] += 1
                return
            data = _json_safe({"kind": kind, "at": int(time.time() * 1000), **dict(detail)})
            self._debug_in_flight += 1
            self._spawn(self._send_debug(code, kind, data))
        except Exception:  # noqa: BLE001 - diagnostics must never hurt the caller
            log.debug("ably: diagnostic %s for %s not sent", kind, code, exc_info=True)

    async def _send_debug(self, code: str, kind: str, data: dict[str, Any]) -> None:
        from ably.types.message import Message

        try:
            await self.channels.ready()
            channel = self.channels.publish_channel(debug_channel_name(code))
            try:
                await asyncio.wait_for(channel.publish(Message(name=kind, data=data)), self.debug_timeout)
            finally:
                self.channels.forget_unheld(channel)
            self.stats["debug_sent"] += 1
        except Exception:  # noqa: BLE001
            self.stats["debug_dropped"] += 1
            log.debug("ably: diagnostic %s for %s not sent", kind, code, exc_info=True)
        finally:
            self._debug_in_flight -= 1

    # --- subscribing ----------------------------------------------------------------------------------
    async def subscribe(self, session_code: str, handler: Handler) -> _Subscription:
        """Attach ``sessions:{code}`` (bounded wait) and deliver each event to ``await handler(event)``."""
        await self.channels.ready()
        sub = _Subscription(self, session_code, handler)
        async with self._locks[session_code]:
            session = self._sessions.get(session_code)
            if session is None:
                session = self._sessions[session_code] = _Session()
                session.consumer = self._spawn(self._consume(session_code, session))
            session.subs.add(sub)  # before the attach: nothing delivered after it is missed
            try:
                await self.channels.hold(session_code, self)
            except BaseException:
                session.subs.discard(sub)
                await self._drop_if_idle(session_code)
                raise
        return sub

    async def _unsubscribe(self, sub: _Subscription) -> None:
        code = sub.session_code
        async with self._locks[code]:
            session = self._sessions.get(code)
            if session is not None:
                session.subs.discard(sub)
                await self._drop_if_idle(code)

    async def _drop_if_idle(self, code: str) -> None:
        session = self._sessions.get(code)
        if session is None or session.subs:
            return
        del self._sessions[code]
        session.queue.put_nowait(_STOP)
        await self.channels.release(code, self)

    def subscribed_sessions(self) -> set[str]:
        return {code for code, session in self._sessions.items() if session.subs}

    def attached_sessions(self) -> set[str]:
        """Sessions whose channel this worker holds (subscriptions or presence)."""
        return self.channels.held_sessions()

    def on_resync(self, callback: ResyncCallback) -> None:
        """``await callback(code)`` for each subscribed session whenever its channel re-attaches after
        the first attach: after a reconnect (resumed or not), a failed resume, a server-side re-attach,
        or an attach that completed after `subscribe` stopped waiting. The callback catches up from the
        log (a no-op when level), so the bus never relies on Ably's replay for completeness."""
        self._resync_callbacks.append(callback)

    # --- ChannelListener (AblyChannels calls these) ---------------------------------------------------
    def channel_message(self, code: str, message: Any) -> None:
        session = self._sessions.get(code)
        if session is not None:
            session.queue.put_nowait(message)
        self._observe_delivery(message)

    def _observe_delivery(self, message: Any) -> None:
        """Publish -> receive of another worker's message (Ably stamps `timestamp` when it accepts it)."""
        sent_ms = getattr(message, "timestamp", None)
        if not sent_ms or getattr(message, "connection_id", None) == self.channels.connection_id():
            return  # this worker's own publish, echoed back
        metrics.BUS_DELIVERY.observe(max(0.0, time.time() - sent_ms / 1000))

    def channel_presence(self, code: str, member: Any) -> None:
        pass  # AblyPresence listens to presence

    def channel_attached(self, code: str, *, awaited: bool, first: bool, resumed: bool, update: bool) -> None:
        if awaited:
            return  # subscribe() is waiting for this very attach; the caller loads after it
        reason = "update" if update else ("late-attach" if first else "reattach")
        self._schedule_resync(code, reason, resumed)

    def channel_changed(self, code: str) -> None:
        pass

    # --- delivery -------------------------------------------------------------------------------------
    async def _consume(self, code: str, session: _Session) -> None:
        """Deliver the channel's messages one at a time, in arrival order."""
        while True:
            message = await session.queue.get()
            if message is _STOP:
                return
            await self._deliver(code, session, message)

    async def _deliver(self, code: str, session: _Session, message: Any) -> None:
        try:
            events = unpack(message.name, message.data)
            for event in events:
                if event.session_code != code:
                    raise ValueError(f"event of session {event.session_code} on {channel_name(code)}")
                if event.seq is None:
                    raise ValueError("event without seq")
        except Exception as exc:  # noqa: BLE001 - a malformed message must never stop delivery
            self.stats["malformed"] += 1
            log.warning("ably: dropped a malformed message %r on %s: %s", message.id, channel_name(code), exc)
            await self.debug(
                code,
                "malformed",
                {"messageId": message.id, "name": message.name, "error": str(exc)[:500]},
            )
            return
        self.stats["received"] += len(events)
        for event in events:  # a range in seq order: subscribers apply by seq and drop repeats
            for sub in list(session.subs):
                if sub.closed:
                    continue
                try:
                    await sub.handler(event)
                except Exception:  # noqa: BLE001 - one failing subscriber must not starve the others
                    log.exception("ably: subscriber failed on %s seq %s", code, event.seq)

    # --- resync ---------------------------------------------------------------------------------------
    def _schedule_resync(self, code: str, reason: str, resumed: bool) -> None:
        session = self._sessions.get(code)
        if session is None or not session.subs or not self._resync_callbacks:
            return
        self.stats["resyncs"] += 1
        running = self._resyncing.get(code)
        if running is not None and not running.done():
            self._resync_again.add(code)  # coalesce: one more pass after the running one
            return
        self._resyncing[code] = self._spawn(self._resync(code, reason, resumed))

    async def _resync(self, code: str, reason: str, resumed: bool) -> None:
        try:
            while True:
                self._resync_again.discard(code)
                log.info(
                    "ably: %s re-attached (%s, resumed=%s); catching up from the log", code, reason, resumed
                )
                await self.debug(code, "catch-up", {"reason": reason, "resumed": resumed})
                for callback in list(self._resync_callbacks):
                    if code not in self.subscribed_sessions():
                        return  # released meanwhile: catching up would load (and subscribe) it again
                    try:
                        await callback(code)
                    except Exception:  # noqa: BLE001
                        log.exception("ably: resync callback failed for %s", code)
                if code not in self._resync_again:
                    return
        finally:
            self._resyncing.pop(code, None)
