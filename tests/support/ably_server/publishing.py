"""Publishing on the test server: MESSAGE under Ably's rules (rules.py), ACK/NACK, fan-out to subscribers."""

from __future__ import annotations

import logging
from typing import Any

from .auth import Credentials, now_ms
from .protocol import AblyError, Action, Flag
from .rules import check_size, idempotency_key
from .state import Channel, Connection, serial_of

log = logging.getLogger(__name__)


class Publishing:
    """Mixed into `AblyTestServer`."""

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
            if err.code == 40031:
                self.counters.refused_ids += 1
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
