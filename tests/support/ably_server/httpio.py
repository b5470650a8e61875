"""Just enough HTTP/1.1 for one port to serve REST calls and websocket upgrades.

`websockets` can only parse GET requests (its `http11.Request.parse` rejects other methods), and the
SDK's REST client POSTs, so the server reads request heads itself and hands upgrades to the
sans-I/O `websockets.server.ServerProtocol`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import msgpack

from .protocol import JSON_MIME, MSGPACK_MIME, AblyError, for_json

MAX_HEAD = 64 * 1024
MAX_BODY = 4 * 1024 * 1024
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class BadRequest(Exception):
    pass


@dataclass
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str]
    head: bytes
    body: bytes = b""
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def is_websocket(self) -> bool:
        return self.method == "GET" and "websocket" in self.header("upgrade").lower()

    @property
    def wants_msgpack(self) -> bool:
        return MSGPACK_MIME in self.header("accept")

    def json_body(self) -> Any:
        """The decoded body (msgpack or JSON by Content-Type); `None` when empty."""
        if not self.body:
            return None
        try:
            if MSGPACK_MIME in self.header("content-type"):
                return msgpack.unpackb(self.body, raw=False, strict_map_key=False)
            return json.loads(self.body)
        except Exception as exc:
            raise AblyError(40000, 400, f"Unable to decode request body: {exc}") from None


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """Read one request (head and, for non-upgrades, its body); `None` on a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest("truncated request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest("request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        raise BadRequest(f"bad request line {lines[0]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    split = urlsplit(target)
    req = HttpRequest(
        method=method.upper(),
        target=target,
        headers=headers,
        head=head,
        path=split.path,
        query=dict(parse_qsl(split.query, keep_blank_values=True)),
    )
    if req.is_websocket:
        return req
    if "chunked" in req.header("transfer-encoding").lower():
        chunks = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            total += size
            if total > MAX_BODY:
                raise BadRequest("body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        req.body = b"".join(chunks)
    else:
        length = int(req.header("content-length", "0") or "0")
        if length > MAX_BODY:
            raise BadRequest("body too large")
        if length:
            req.body = await reader.readexactly(length)
    return req


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = JSON_MIME
    headers: dict[str, str] = field(default_factory=dict)

    def serialize(self, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Status')}"]
        headers = {
            "Date": formatdate(usegmt=True),
            "Server": "ably-test-server",
            "Content-Length": str(len(self.body)),
            "Connection": "keep-alive" if keep_alive else "close",
            **({"Content-Type": self.content_type} if self.body else {}),
            **self.headers,
        }
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def respond(
    req: HttpRequest | None, status: int, obj: Any, headers: dict[str, str] | None = None
) -> HttpResponse:
    """Encode `obj` in the format the client asked for (msgpack if its Accept says so)."""
    if req is not None and req.wants_msgpack:
        body = msgpack.packb(obj, use_bin_type=True)
        return HttpResponse(status, body, MSGPACK_MIME, headers or {})
    body = json.dumps(for_json(obj), separators=(",", ":")).encode("utf-8")
    return HttpResponse(status, body, JSON_MIME, headers or {})


def error_response(req: HttpRequest | None, err: AblyError) -> HttpResponse:
    return respond(
        req,
        err.status,
        {"error": err.to_dict()},
        {"X-Ably-Errorcode": str(err.code), "X-Ably-Errormessage": err.message.replace("\n", " ")},
    )
