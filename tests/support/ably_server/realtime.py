"""The test server's realtime protocol: websocket sessions, connections (resume, TTL), ATTACH/DETACH, AUTH."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

from websockets.frames import OP_BINARY, OP_CONT, OP_TEXT, Frame
from websockets.http11 import Request as WsRequest
from websockets.protocol import State
from websockets.server import ServerProtocol

from .auth import Credentials, now_ms
from .httpio import HttpRequest
from .protocol import JSON, MODE_FLAGS, MSGPACK, AblyError, Action, Flag, decode
from .state import Attachment, Connection, serial_of
from .transport import _CLOSE, Transport

log = logging.getLogger(__name__)

SYNC_PAGE = 100


class RealtimeProtocol:
    """Mixed into `AblyTestServer`: what a websocket carries, publishing and presence aside."""

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
