"""REST API (DESIGN §5). Mounted in front of Reflex, so `/api/...` wins over pages."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.routing import Match

from cardsort_app import metrics
from cardsort_app.api.exports import router as exports_router
from cardsort_app.api.protection import LARGE_BODY_PATHS, BodyTooLarge, Protection, too_large_response
from cardsort_app.api.views import session_view
from cardsort_app.domain.custom_decks import DeckProblem, parse_deck_csv
from cardsort_app.service.errors import InvalidImport, ServiceError
from cardsort_app.service.limits import LimitExceeded
from cardsort_app.service.runtime import get_runtime
from cardsort_app.service.store_port import StoreUnavailable

api = FastAPI(title="Cardsort API", docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
_bearer = HTTPBearer(auto_error=False)
api.include_router(exports_router)  # export.csv / export.json (api/exports.py)
api.add_middleware(Protection)  # body limit + security headers, for the API and the pages mounted inside
api.add_exception_handler(BodyTooLarge, too_large_response)  # a streamed body over the limit: 413

MAX_EVENTS_PAGE = 1000
#: A 200-card deck with long descriptions stays well under this.
MAX_DECK_CSV_CHARS = 64 * 1024
#: The largest seq a database can hold (a signed 64-bit integer); a bigger `after` cannot even be bound.
MAX_SEQ = 2**63 - 1
#: The largest export POST /api/sessions/import reads (100k events are about 25 MB of JSON).
MAX_IMPORT_BYTES = LARGE_BODY_PATHS["/api/sessions/import"]


class CreateSessionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    title: Annotated[str, Field(max_length=120)] = ""
    deck: Annotated[str, Field(max_length=40)] = "values"
    anonymous: StrictBool = False
    pacing: Literal["self", "facilitator"] = "self"
    # A custom deck as CSV text (id,label,description); replaces `deck`. Checked whole: 400 per bad row.
    deck_csv: Annotated[str | None, Field(alias="deckCsv", max_length=MAX_DECK_CSV_CHARS)] = None


@api.exception_handler(ServiceError)
async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, LimitExceeded) else None
    return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)


@api.exception_handler(RequestValidationError)
async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each bad field, never echoing what was sent (it may be huge, or somebody's secret)."""
    problems = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": error.get("type"),
        }
        for error in exc.errors()
    ]
    first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"]) or "request"
    return JSONResponse({"error": f"{where}: {first['msg']}", "detail": problems}, status_code=422)


@api.exception_handler(StoreUnavailable)
async def _store_unavailable(_request: Request, exc: StoreUnavailable) -> JSONResponse:
    # The database is down or locked: say so, so clients and load balancers retry instead of giving up.
    return JSONResponse({"error": "The database is unavailable; try again shortly"}, status_code=503)


def _key(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str | None:
    return credentials.credentials if credentials else None


@api.get("/metrics", include_in_schema=False)
async def metrics_scrape(key: str | None = Depends(_key)) -> Response:
    """Prometheus' text format: latencies, sessions, tabs, outbox, refusals (README: Metrics). Behind
    ``CARDSORT_METRICS_TOKEN`` when that is set."""
    if not metrics.scrape_allowed(key):
        return JSONResponse(
            {"error": "GET /metrics needs Authorization: Bearer <CARDSORT_METRICS_TOKEN>"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    body, content_type = await metrics.render()
    return Response(body, media_type=content_type)


@api.get("/api/health")
async def health() -> JSONResponse:
    queries = get_runtime().queries
    checks: dict[str, Any] = {"database": await queries.database_health()}
    bus_status, bus_reason = queries.bus_health()  # "degraded": usable, other workers read the log
    checks["bus"] = bus_status
    ok = all(v in ("ok", "degraded") for v in checks.values())
    status = "error" if not ok else "degraded" if "degraded" in checks.values() else "ok"
    body = {"status": status, **checks, **({"busReason": bus_reason} if bus_reason else {})}
    return JSONResponse(body, status_code=200 if ok else 503)


@api.head("/api/health", include_in_schema=False)
async def health_probe() -> Response:
    """A load balancer's probe: the status GET would answer, without a body."""
    answer = await health()
    return Response(status_code=answer.status_code, media_type="application/json")


@api.post("/api/sessions", status_code=201, response_model=None)
async def create_session(
    request: Request, body: CreateSessionBody | None = None
) -> dict[str, str] | JSONResponse:
    body = body or CreateSessionBody()
    try:
        cards = parse_deck_csv(body.deck_csv) if body.deck_csv is not None else None
    except DeckProblem as exc:
        return JSONResponse({"error": str(exc), "problems": exc.problems}, status_code=400)
    created = await get_runtime().service.create_session(
        body.title,
        body.deck,
        anonymous=body.anonymous,
        pacing=body.pacing,
        custom_cards=cards,
        client=request.client.host if request.client else None,
    )
    return {"code": created.code, "facilitatorKey": created.facilitator_key}


@api.get("/api/sessions/{code}")
async def get_session(code: str, key: str | None = Depends(_key)) -> dict[str, Any]:
    runtime = get_runtime()
    code = await runtime.service.check_facilitator(code, key)
    state = await runtime.queries.state(code)
    online = await runtime.queries.online_synced(code)  # with Ably: once the other workers' members arrived
    return session_view(state, online)


@api.get("/api/sessions/{code}/events")
async def get_events(
    code: str,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 100,
    key: str | None = Depends(_key),
) -> dict[str, Any]:
    runtime = get_runtime()
    code = await runtime.service.check_facilitator(code, key)
    events = await runtime.queries.events_after(code, after, limit)
    return {"events": [e.to_wire() for e in events], "next": events[-1].seq if events else after}


@api.post("/api/sessions/import", status_code=201)
async def import_session(request: Request) -> Any:
    """A new read-only session from an `export.json` (no key needed: the export is the credential)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_IMPORT_BYTES:
        return JSONResponse({"error": f"An export may be at most {MAX_IMPORT_BYTES} bytes"}, status_code=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_IMPORT_BYTES:
            return JSONResponse(
                {"error": f"An export may be at most {MAX_IMPORT_BYTES} bytes"}, status_code=413
            )
    try:
        data = await asyncio.to_thread(json.loads, bytes(body))
    except ValueError as exc:
        raise InvalidImport(f"Not imported: the body is not JSON ({exc})") from exc
    client = request.client.host if request.client else None
    created = await get_runtime().service.import_session(data, client=client)
    return JSONResponse({"code": created.code, "facilitatorKey": created.facilitator_key}, status_code=201)


_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@api.api_route("/api/{rest:path}", methods=_ANY_METHOD, include_in_schema=False)
async def unknown_api_path(request: Request, rest: str) -> JSONResponse:
    """Registered last: an `/api/...` path no route above serves answers JSON, not the pages' HTML 404
    (the Reflex app is mounted behind this API and would otherwise take it). A known path asked with
    another method is a 405 naming the allowed ones."""
    allowed = sorted({m for route in api.router.routes for m in _methods_at(route, request)})
    if allowed:
        return JSONResponse(
            {"error": f"{request.method} is not allowed on /api/{rest}"},
            status_code=405,
            headers={"Allow": ", ".join(allowed)},
        )
    return JSONResponse({"error": f"No such API endpoint: /api/{rest}"}, status_code=404)


def _methods_at(route: Any, request: Request) -> set[str]:
    """The methods ``route`` serves when its path matches the request's but not its method (PARTIAL; the
    catch-all itself matches FULL: it never counts)."""
    match, _ = route.matches(request.scope)
    return set(getattr(route, "methods", None) or ()) if match == Match.PARTIAL else set()
