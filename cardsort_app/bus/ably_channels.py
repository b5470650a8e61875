"""AblyChannels: the one realtime connection and the ``sessions:{code}`` channels it holds.

The shared core of `AblyBus` (event subscriptions, publishing) and `AblyPresence` (who is online):
both hold channels through it and hear about them through `ChannelListener`, so neither reaches into
the other. A channel is attached while at least one holder holds it and detached -- and released from
the SDK -- when the last one lets go (selective subscriptions: a worker holds only the sessions its tabs
are in). Attach and detach waits are bounded and never cancel the SDK's own waiters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cardsort_app.bus.ably_errors import BusUnavailable

log = logging.getLogger(__name__)


def channel_name(code: str) -> str:
    return f"sessions:{code}"


def state_of(obj: Any) -> str:
    state = getattr(obj, "state", None)
    return str(getattr(state, "value", state))


class ChannelListener(Protocol):
    """What a holder hears about the channels (called synchronously from the SDK's callbacks)."""

    def channel_message(self, code: str, message: Any) -> None: ...

    def channel_presence(self, code: str, member: Any) -> None: ...

    def channel_attached(self, code: str, *, awaited: bool, first: bool, resumed: bool, update: bool) -> None:
        """`awaited`: the first attach a `hold` call is waiting for (the holder loads after it)."""
        ...

    def channel_changed(self, code: str) -> None:
        """Any other change: a state change, or the channel was released."""
        ...


@dataclass(eq=False)
class _Held:
    code: str
    channel: Any  # ably RealtimeChannel
    holders: set[object] = field(default_factory=set)
    listen_task: asyncio.Task[Any] | None = None
    attach_task: asyncio.Task[Any] | None = None
    attached_once: bool = False
    awaiting_first_attach: bool = False
    # The SDK accepts only plain functions and methods as listeners: one set per channel.
    on_message: Callable[[Any], None] | None = None
    on_presence: Callable[[Any], None] | None = None
    on_state: Callable[[Any], None] | None = None


class AblyChannels:
    def __init__(
        self,
        sdk_options: Mapping[str, Any],
        *,
        connect_timeout: float,
        attach_timeout: float,
        detach_timeout: float,
        stats: dict[str, int],
    ) -> None:
        self.sdk_options = dict(sdk_options)
        self.connect_timeout = connect_timeout
        self.attach_timeout = attach_timeout
        self.detach_timeout = detach_timeout
        self.stats = stats
        self.client: Any = None
        self.closed = False
        self._start_lock: asyncio.Lock | None = None
        self._held: dict[str, _Held] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._listeners: list[ChannelListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def listen(self, listener: ChannelListener) -> None:
        self._listeners.append(listener)

    # --- the connection -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Create the realtime client and wait (bounded) for it to connect. Idempotent.

        Raises BusUnavailable if the connection fails for good (e.g. a rejected key); a connection that
        is merely slow or refused keeps retrying in the background after `connect_timeout`.
        """
        if self.closed:
            raise BusUnavailable("the bus is closed")
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self.client is None:
                import ably

                self.client = ably.AblyRealtime(**self.sdk_options)
                self.client.connection.on(self._make_connection_listener())
        await self.wait_connected(self.connect_timeout)

    async def ready(self) -> Any:
        """The connected-or-connecting client (started on first use)."""
        if self.client is None:
            await self.start()
        if self.closed:
            raise BusUnavailable("the bus is closed")
        return self.client

    def connection_state(self) -> str:
        if self.closed:
            return "closed"
        return "initialized" if self.client is None else state_of(self.client.connection)

    def connection_id(self) -> str | None:
        """This worker's connection id (presence members it entered carry it)."""
        try:
            return self.client.connection.connection_manager.connection_id
        except AttributeError:
            return None

    async def wait_connected(self, timeout: float, *, quiet: bool = False) -> bool:
        client = self.client
        if state_of(client.connection) == "connected":
            return True
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()

        def on_change(change: Any) -> None:
            if not done.done() and change.current.value in ("connected", "failed", "closed"):
                done.set_result(change)

        client.connection.on(on_change)
        try:
            if state_of(client.connection) == "connected":
                return True
            change = await asyncio.wait_for(done, timeout)
        except TimeoutError:
            if not quiet:
                log.warning(
                    "ably: not connected after %.1fs (state %s); retrying in the background",
                    timeout,
                    state_of(client.connection),
                )
            return False
        finally:
            client.connection.off(on_change)
        if change.current.value != "connected":
            raise BusUnavailable(f"Ably connection {change.current.value}: {change.reason}")
        return True

    def _make_connection_listener(self) -> Callable[[Any], None]:
        def on_connection(change: Any) -> None:
            current = getattr(change.current, "value", change.current)
            previous = getattr(change.previous, "value", change.previous)
            if current == previous and current != "connected":
                return
            self.stats[f"connection_{current}"] += 1
            reason = change.reason
            if current == "connected" and reason is not None:
                # e.g. 80008: the connection could not be resumed; channels re-attach (and we resync).
                log.warning("ably: connected with a new connection (%s)", reason)
            elif current in ("disconnected", "suspended", "failed"):
                log.warning("ably: connection %s (%s)", current, reason)
            else:
                log.info("ably: connection %s -> %s", previous, current)

        return on_connection

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for held in list(self._held.values()):
            self._unlisten(held)
        self._held.clear()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        client, self.client = self.client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.close(), 5)
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("ably: close did not complete cleanly", exc_info=True)

    def spawn(self, coro: Awaitable[Any], *, quiet: bool = False) -> asyncio.Task[Any]:
        """A tracked background task (cancelled by close). `quiet`: its failure is the awaiter's business."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._quiet_done if quiet else self._task_done)
        return task

    def _quiet_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # mark retrieved

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("ably bus task failed", exc_info=exc)

    # --- holding channels -----------------------------------------------------------------------------
    async def hold(self, code: str, holder: object) -> Any:
        """Hold ``sessions:{code}`` for `holder` and attach it (waiting at most `attach_timeout`; past it
        the hold stands, the SDK keeps attaching and the listeners hear the attach). Returns the channel;
        raises BusUnavailable if the channel failed."""
        await self.ready()
        async with self._locks[code]:
            held = self._get(code)
            held.holders.add(holder)
            try:
                await self._attach(held)
            except BaseException:
                held.holders.discard(holder)
                await self._release_if_idle(code)
                raise
            return held.channel

    async def release(self, code: str, holder: object) -> None:
        async with self._locks[code]:
            held = self._held.get(code)
            if held is not None:
                held.holders.discard(holder)
                await self._release_if_idle(code)

    def channel(self, code: str) -> Any | None:
        """The held channel of `code`, or None."""
        held = self._held.get(code)
        return held.channel if held is not None else None

    def holds(self, code: str, holder: object) -> bool:
        held = self._held.get(code)
        return held is not None and holder in held.holders

    def held_sessions(self) -> set[str]:
        return set(self._held)

    def publish_channel(self, name: str) -> Any:
        """A channel object to publish on (publishing does not attach)."""
        return self.client.channels.get(name)

    def forget_unheld(self, channel: Any) -> None:
        """Forget a publish-only channel object (it never attached) so the SDK's registry stays small."""
        if self.client is None or state_of(channel) != "initialized":
            return
        if channel.name.startswith("sessions:") and channel.name[len("sessions:") :] in self._held:
            return
        with contextlib.suppress(Exception):
            self.client.channels.release(channel.name)

    def _get(self, code: str) -> _Held:
        held = self._held.get(code)
        if held is not None:
            return held
        held = _Held(code=code, channel=self.client.channels.get(channel_name(code)))

        def on_message(message: Any) -> None:
            for listener in self._listeners:
                listener.channel_message(code, message)

        def on_presence(member: Any) -> None:
            for listener in self._listeners:
                listener.channel_presence(code, member)

        def on_state(change: Any) -> None:
            self._on_channel_state(held, change)

        held.on_message, held.on_presence, held.on_state = on_message, on_presence, on_state
        held.channel.on(on_state)
        self._held[code] = held
        return held

    async def _attach(self, held: _Held) -> None:
        """Attach, waiting at most `attach_timeout`; the first call also registers the listeners."""
        channel = held.channel
        if held.listen_task is None:
            if not held.attached_once:
                held.awaiting_first_attach = True
            held.listen_task = held.attach_task = self.spawn(self._listen_and_attach(held), quiet=True)
        elif state_of(channel) == "attached":
            return
        elif held.attach_task is None or held.attach_task.done():
            held.attach_task = self.spawn(channel.attach(), quiet=True)
        task = held.attach_task
        done, _ = await asyncio.wait({task}, timeout=self.attach_timeout)
        held.awaiting_first_attach = False
        if not done:
            log.warning(
                "ably: %s not attached after %.1fs (channel %s); a later attach resyncs",
                channel.name,
                self.attach_timeout,
                state_of(channel),
            )
            return
        exc = task.exception()
        if exc is not None and state_of(channel) == "failed":
            raise BusUnavailable(f"cannot attach {channel.name}: {exc}") from exc
        if exc is not None:  # suspended: the SDK retries after channel_retry_timeout
            log.warning("ably: attaching %s: %s; the SDK retries", channel.name, exc)

    async def _listen_and_attach(self, held: _Held) -> None:
        channel = held.channel
        try:
            # subscribe() registers the listener synchronously, then attaches (raising if that fails).
            await channel.subscribe(held.on_message)
        finally:
            try:
                # Registers; attaches only from initialized/detached, i.e. never twice here.
                await channel.presence.subscribe(held.on_presence)
            except Exception:  # noqa: BLE001
                log.debug("ably: presence subscribe on %s", channel.name, exc_info=True)

    def _on_channel_state(self, held: _Held, change: Any) -> None:
        current = getattr(change.current, "value", change.current)
        previous = getattr(change.previous, "value", change.previous)
        if self._held.get(held.code) is not held:
            return
        if current == "attached":
            first = not held.attached_once
            held.attached_once = True
            awaited = first and held.awaiting_first_attach
            resumed = bool(getattr(change, "resumed", False))
            for listener in self._listeners:
                listener.channel_attached(
                    held.code, awaited=awaited, first=first, resumed=resumed, update=previous == "attached"
                )
            return
        if current == "failed" and held.holders:
            log.warning("ably: channel %s failed (%s); re-attaching", held.channel.name, change.reason)
            self.spawn(self._reattach_later(held))
        elif current in ("suspended", "detached") and previous != "detaching":
            log.warning("ably: channel %s %s (%s)", held.channel.name, current, change.reason)
        for listener in self._listeners:
            listener.channel_changed(held.code)

    async def _reattach_later(self, held: _Held) -> None:
        await asyncio.sleep(self.sdk_options.get("channel_retry_timeout", 15_000) / 1000)
        current = self._held.get(held.code) is held and state_of(held.channel)
        if held.holders and current in ("failed", "detached"):
            await self.bounded(held.channel.attach(), self.attach_timeout)

    async def bounded(self, coro: Awaitable[Any], timeout: float) -> bool:
        """Wait at most `timeout` for an SDK attach/detach without cancelling it (cancelling strands the
        SDK's internal state waiter, which then fails when the state changes). True if it succeeded."""
        task = self.spawn(coro, quiet=True)
        done, _ = await asyncio.wait({task}, timeout=timeout)
        return bool(done) and task.exception() is None

    async def _release_if_idle(self, code: str) -> None:
        """Detach and forget the channel when nothing holds it any more (caller holds the code's lock)."""
        held = self._held.get(code)
        if held is None or held.holders:
            return
        del self._held[code]
        self._unlisten(held)
        channel = held.channel
        if self.client is not None:
            busy = state_of(channel) not in ("initialized", "detached", "failed")
            if busy and not await self.bounded(channel.detach(), self.detach_timeout):
                # The SDK sends the DETACH once connected again.
                log.warning("ably: %s not detached yet (channel %s)", channel.name, state_of(channel))
            if code not in self._held and state_of(channel) in ("initialized", "detached", "failed"):
                with contextlib.suppress(Exception):
                    self.client.channels.release(channel.name)
        for listener in self._listeners:
            listener.channel_changed(code)

    def _unlisten(self, held: _Held) -> None:
        channel = held.channel
        with contextlib.suppress(Exception):
            channel.unsubscribe(held.on_message)
        with contextlib.suppress(Exception):
            channel.presence.unsubscribe(held.on_presence)
        with contextlib.suppress(Exception):
            channel.off(held.on_state)
        # A pending attach is left to finish: cancelling the SDK's attach() strands its internal waiter.
