"""The REST API of the test server: `/time`, token requests, publish, history, presence, channel details."""

from __future__ import annotations

import base64
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_plus, urlencode

from .auth import Credentials, now_ms
from .httpio import HttpRequest, HttpResponse, error_response, respond
from .protocol import AblyError, Flag
from .rules import idempotency_key

log = logging.getLogger(__name__)


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


Handler = Callable[[HttpRequest, "list[str]"], Awaitable[HttpResponse]]


class RestApi:
    """Mixed into `AblyTestServer`: the REST routes (`_rest_routes`) and their handlers."""

    def _rest_routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        return [
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
