"""HTTP protections for every response of the app (the REST API and, since Reflex is mounted inside the
API app, every page): a request body limit, security headers, and error answers that never echo input.

* Bodies over CARDSORT_MAX_BODY_BYTES answer 413 before the route reads them (a declared Content-Length is
  refused at once; a chunked body is counted as it streams).
* `Referrer-Policy: no-referrer` (a dashboard URL never leaks to another site) and a Content-Security-Policy
  that allows only this origin: scripts from it plus the built frontend's own inline scripts, pinned by
  their SHA-256 hashes (read from the build at start-up); no plugins, no framing, no foreign forms.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from reflex.utils import prerequisites
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cardsort_app.service.limits import LimitSettings
from cardsort_app.service.runtime import get_runtime

ROOT = Path(__file__).resolve().parents[2]
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)


def build_dir() -> Path:
    """The built pages this process serves: Reflex's web directory (`.web`, or REFLEX_WEB_WORKDIR)."""
    web = prerequisites.get_web_dir()
    return (web if web.is_absolute() else ROOT / web) / "build" / "client"


def inline_script_hashes() -> tuple[str, ...]:
    return _hashes(build_dir())


@cache
def _hashes(build: Path) -> tuple[str, ...]:
    """CSP source expressions for every inline script of the built pages."""
    found: set[str] = set()
    for page in sorted(build.rglob("*.html")) if build.is_dir() else ():
        for body in _INLINE_SCRIPT.findall(page.read_bytes()):
            if body.strip():
                found.add("'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'")
    return tuple(sorted(found))


def content_security_policy(hashes: tuple[str, ...]) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(hashes),
            "style-src 'self' 'unsafe-inline'",  # the component library sets inline styles at run time
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",  # the Reflex websocket and /api, same origin
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    ).strip()


def security_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", content_security_policy(inline_script_hashes()).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
    ]


def _json(status: int, body: dict[str, Any]) -> tuple[Message, Message]:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    return (
        {"type": "http.response.start", "status": status, "headers": headers + security_headers()},
        {"type": "http.response.body", "body": data},
    )


def _max_body_bytes() -> int:
    """CARDSORT_MAX_BODY_BYTES, as the process's runtime was configured (the default before it exists)."""
    try:
        return get_runtime().service.limits.settings.max_body_bytes
    except RuntimeError:  # no runtime wired (a tool reading /api/openapi.json from the bare API app)
        return LimitSettings().max_body_bytes


#: Routes that take a larger body than CARDSORT_MAX_BODY_BYTES: an export being imported holds a whole
#: session's log (100k events are about 25 MB); the route streams and checks it against this itself.
LARGE_BODY_PATHS: dict[str, int] = {"/api/sessions/import": 64 * 1024 * 1024}


class BodyTooLarge(HTTPException):
    """Raised from the counted `receive` once a streamed body passes the limit. An HTTPException, because
    FastAPI turns any other exception met while it reads a body into `400 "error parsing the body"`
    (it re-raises HTTPExceptions); `too_large_response` answers it with the 413 of DESIGN §5b."""

    def __init__(self, max_body: int) -> None:
        super().__init__(413, _too_large_message(max_body))


def _too_large_message(max_body: int) -> str:
    return f"The request body is larger than {max_body} bytes"


async def too_large_response(_request: Request, exc: Exception) -> JSONResponse:
    """The API's exception handler for BodyTooLarge: the same answer as a declared body over the limit."""
    return JSONResponse({"error": str(getattr(exc, "detail", ""))}, status_code=413)


class Protection:
    """ASGI middleware: the body limit and the security headers (HTTP only; websockets pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_body = LARGE_BODY_PATHS.get(scope.get("path", ""), 0) or _max_body_bytes()
        too_large = {"error": _too_large_message(max_body)}
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body):
            for message in _json(413, too_large):
                await send(message)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise BodyTooLarge(max_body)
            return message

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in security_headers() if n not in names]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        try:
            await self.app(scope, counted, with_headers)
        except BodyTooLarge:  # not answered by the API's handler (read outside FastAPI's routes)
            if not started:
                for message in _json(413, too_large):
                    await send(message)
