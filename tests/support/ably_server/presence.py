"""Presence on the test server: ENTER/UPDATE/LEAVE, broadcast, server-side leaves after the grace period."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from .auth import now_ms
from .protocol import AblyError, Action, Flag, PresenceAction
from .state import Channel, Connection

log = logging.getLogger(__name__)


class PresenceProtocol:
    """Mixed into `AblyTestServer`."""

    def _presence_timeout(self, conn: Connection) -> None:
        conn.presence_grace = None
        if conn.transport is None:
            self._leave_all(conn)

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
