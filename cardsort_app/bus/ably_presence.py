"""AblyPresence: who is online, on Ably presence, with the same synchronous face as InProcessPresence.

A participant is online while at least one of their tabs, on any worker, holds a live websocket.

* This worker counts its own tabs per (session, participant). The first local tab makes the bus's
  connection ``enter_client(participant_id)`` on ``sessions:{code}``; when the last one leaves it
  ``leave_client``s. Several tabs, or several workers, holding one participant are one online person.
* The channel's presence set (the SDK's member map: sync on attach + presence events) is mirrored, so
  `online(code)` is the union over *all* workers: the members other connections hold, plus this
  worker's own tabs (exact and immediate, where Ably's echo of our own enter/leave lags).
* Listeners hear ``(code, participant_id, online)`` once per change of that union: never twice for
  one change, however many tabs or workers hold the participant.
* If this worker's Ably connection dies, Ably removes its members after its presence grace period and
  the other workers see those participants go offline; when the connection comes back the SDK
  re-enters them (and `_reconcile` re-enters whatever it could not), so they show online again.

`enter`/`leave` are synchronous (called from UI handlers); the Ably calls they imply run in one
background task per session, in order, and are retried while the channel is unavailable.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from cardsort_app.bus.local_tabs import LocalTabs
from cardsort_app.service.presence import PresenceListener

if TYPE_CHECKING:
    from cardsort_app.bus.ably_channels import AblyChannels

log = logging.getLogger(__name__)


#: Seconds before a failed enter/leave is tried again.
RETRY_S = 1.0


class AblyPresence:
    """Holds ``sessions:{code}`` through the shared `AblyChannels` core (as one of its holders) and
    hears the channels' presence and state through it (a `ChannelListener`)."""

    def __init__(self, channels: AblyChannels, *, presence_timeout: float = 5.0) -> None:
        self._channels = channels
        self.presence_timeout = presence_timeout
        channels.listen(self)
        self._tabs = LocalTabs()
        self._listeners: set[PresenceListener] = set()
        self._entered: defaultdict[str, set[str]] = defaultdict(set)  # code -> pids entered on Ably
        self._shown: dict[str, set[str]] = {}  # code -> online set listeners last heard
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._retry: dict[str, asyncio.TimerHandle] = {}
        self._closed = False

    # --- the InProcessPresence interface --------------------------------------------------------------
    def listen(self, listener: PresenceListener) -> None:
        self._listeners.add(listener)

    def unlisten(self, listener: PresenceListener) -> None:
        self._listeners.discard(listener)

    def enter(self, client_token: str, code: str, participant_id: str) -> None:
        left, first = self._tabs.enter(client_token, code, participant_id)
        if left is not None:
            self._kick(left[0])
            self._refresh(left[0])
        if first:
            self._kick(code)
        self._refresh(code)

    def leave(self, client_token: str) -> None:
        if (gone := self._tabs.leave(client_token)) is not None:
            self._kick(gone[0])
            self._refresh(gone[0])

    def is_online(self, code: str, participant_id: str) -> bool:
        return participant_id in self.online(code)

    def online(self, code: str) -> set[str]:
        return self._local(code) | self._remote(code)

    async def synced(self, code: str) -> set[str]:
        """`online(code)` after the channel's presence sync has completed (bounded wait): for a view
        built right after this worker attached the session (e.g. a REST request on a worker with no tab
        in it), when the member set may still be on its way."""
        channel = self._channels.channel(code)
        if channel is not None and str(getattr(channel.state, "value", "")) == "attached":
            try:
                await asyncio.wait_for(channel.presence.get(), self.presence_timeout)
            except Exception as exc:  # noqa: BLE001 - answer with what is known
                log.debug("presence: sync of %s not complete: %s", code, exc)
            self._refresh(code)
        return self.online(code)

    # --- views ----------------------------------------------------------------------------------------
    def local(self, code: str) -> set[str]:
        """Participants of `code` with a tab on this worker."""
        return self._local(code)

    def _local(self, code: str) -> set[str]:
        return self._tabs.participants(code)

    def _members(self, code: str) -> tuple[set[str], set[str]]:
        """(participants present through other connections, participants present through ours), as
        this worker's SDK currently sees the channel's presence set."""
        channel = self._channels.channel(code)
        if channel is None:
            return set(), set()
        try:
            mine = self._channels.connection_id()
            members = channel.presence.members.values()
        except Exception:  # noqa: BLE001
            return set(), set()
        others, own = set(), set()
        for m in members:
            if m.client_id:
                (own if m.connection_id == mine else others).add(m.client_id)
        return others, own

    def _remote(self, code: str) -> set[str]:
        """Participants present through *other* connections (other workers). This worker's own members
        are its local tabs: that answer is exact and immediate, while Ably's echo of our own enter and
        leave lags behind."""
        return self._members(code)[0]

    # --- ChannelListener (AblyChannels calls these) ---------------------------------------------------
    def channel_message(self, code: str, message: Any) -> None:
        pass  # events are the bus's business

    def channel_presence(self, code: str, member: Any) -> None:
        """A presence event on ``sessions:{code}``."""
        self._refresh(code)
        if self._members(code)[1] - self._local(code):
            # One of ours without a local tab: e.g. the SDK re-entered (RTP17) a member whose leave was
            # still queued when the connection came back. Leave it again.
            self._kick(code)

    def channel_attached(self, code: str, *, awaited: bool, first: bool, resumed: bool, update: bool) -> None:
        self._refresh(code)
        if not awaited:
            self._kick(code)  # re-enter what a failed resume lost

    def channel_changed(self, code: str) -> None:
        self._refresh(code)

    def _refresh(self, code: str) -> None:
        """Tell listeners about every change of `online(code)` since they last heard (once each)."""
        now = self.online(code)
        before = self._shown.get(code, set())
        if now == before:
            return
        if now:
            self._shown[code] = now
        else:
            self._shown.pop(code, None)
        for pid in sorted(now - before):
            self._notify(code, pid, True)
        for pid in sorted(before - now):
            self._notify(code, pid, False)

    def _notify(self, code: str, participant_id: str, online: bool) -> None:
        for listener in list(self._listeners):
            try:
                listener(code, participant_id, online)
            except Exception:  # noqa: BLE001
                log.exception("presence listener failed")

    # --- syncing this worker's tabs to Ably -----------------------------------------------------------
    def _kick(self, code: str) -> None:
        """Bring Ably in line with this worker's tabs for `code`, in the background (coalesced)."""
        if self._closed:
            return
        ours = self._local(code) or self._entered.get(code) or self._channels.holds(code, self)
        if not ours and not self._members(code)[1]:
            return  # nothing of ours on this channel
        worker = self._workers.get(code)
        if worker is not None and not worker.done():
            self._dirty.add(code)
            return
        try:
            self._workers[code] = self._channels.spawn(self._run(code))
        except RuntimeError:  # no running loop (e.g. called at shutdown): nothing to sync with
            log.debug("presence: no event loop to sync %s", code)

    async def _run(self, code: str) -> None:
        try:
            while True:
                self._dirty.discard(code)
                ok = await self._reconcile(code)
                if not ok and not self._closed:
                    self._schedule_retry(code)
                if code not in self._dirty:
                    return
        finally:
            if self._workers.get(code) is asyncio.current_task():
                del self._workers[code]

    def _schedule_retry(self, code: str) -> None:
        if code in self._retry:
            return

        def fire() -> None:
            self._retry.pop(code, None)
            self._kick(code)

        self._retry[code] = asyncio.get_running_loop().call_later(RETRY_S, fire)

    async def _reconcile(self, code: str) -> bool:
        """Enter the local participants not entered yet, leave the entered ones without a local tab."""
        desired = self._local(code)
        entered = self._entered[code]
        ok = True
        if desired:
            try:
                channel = await self._channels.hold(code, self)
            except Exception as exc:  # noqa: BLE001
                log.warning("presence: cannot attach %s: %s", code, exc)
                return False
            for pid in sorted(desired - entered):
                try:
                    await asyncio.wait_for(channel.presence.enter_client(pid), self.presence_timeout)
                    entered.add(pid)
                except Exception as exc:  # noqa: BLE001 - retried
                    ok = False
                    log.warning("presence: enter %s on %s failed: %r", pid, code, exc)
        held = self._channels.channel(code)
        own = self._members(code)[1]
        for pid in sorted((entered | own) - self._local(code)):
            if held is None:
                entered.discard(pid)
                continue
            try:
                await asyncio.wait_for(held.presence.leave_client(pid), self.presence_timeout)
                entered.discard(pid)
            except Exception as exc:  # noqa: BLE001
                log.warning("presence: leave %s on %s failed: %r", pid, code, exc)
                if not self._local(code):
                    entered.discard(pid)  # detaching below removes it on Ably's side
                else:
                    ok = False
        if not self._local(code) and not entered:
            self._entered.pop(code, None)
            await self._channels.release(code, self)
        self._refresh(code)
        return ok

    async def close(self) -> None:
        self._closed = True
        for handle in self._retry.values():
            handle.cancel()
        self._retry.clear()
        workers = [t for t in self._workers.values() if not t.done()]
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "local": {f"{c}/{p}": n for (c, p), n in self._tabs.counts().items()},
            "entered": {c: sorted(p) for c, p in self._entered.items()},
        }
