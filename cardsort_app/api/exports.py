"""Export routes (DESIGN §5b): ``export.csv`` and ``export.json`` of a session, for its facilitator.

Authorised by the facilitator key (``Authorization: Bearer``) or by a dashboard's short-lived download
token (``?token=``, see service/exports.py); anything else gets the same answer as a wrong key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cardsort_app.api.views import session_view
from cardsort_app.domain.state import SessionState
from cardsort_app.service import exports
from cardsort_app.service.errors import NotFacilitator
from cardsort_app.service.runtime import get_runtime
from cardsort_app.service.secrets import normalize_code

router = APIRouter()
_bearer = HTTPBearer(auto_error=False)


async def _authorised_state(code: str, key: str | None, token: str | None) -> SessionState:
    runtime = get_runtime()
    if key is not None or token is None:
        code = await runtime.service.check_facilitator(code, key)
    else:
        code = normalize_code(code)
        record = await runtime.queries.session_record(code)
        if record is None or not exports.token_valid(token, code, record.facilitator_key_hash):
            raise NotFacilitator(code)
    return await runtime.queries.state(code)


def _key(credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str | None:
    return credentials.credentials if credentials else None


Token = Annotated[str | None, Query(max_length=100, description="a dashboard's download token")]


@router.get("/api/sessions/{code}/export.csv", response_class=Response)
async def export_csv(code: str, token: Token = None, key: str | None = Depends(_key)) -> Response:
    """``participant,card_id,card_label,pile,rank``: one row per participant × card."""
    state = await _authorised_state(code, key, token)
    return Response(
        exports.session_csv(state),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{exports.export_filename(state, "csv")}"'},
    )


@router.get("/api/sessions/{code}/export.json")
async def export_json(code: str, token: Token = None, key: str | None = Depends(_key)) -> JSONResponse:
    """``{"session": <GET /api/sessions/{code}>, "events": [the whole log, wire format]}``."""
    state = await _authorised_state(code, key, token)
    runtime = get_runtime()
    events = await runtime.queries.events_after(state.code, 0)
    online = await runtime.queries.online_synced(state.code)
    body = exports.json_export(session_view(state, online), [e.to_wire() for e in events])
    return JSONResponse(
        body,
        headers={"Content-Disposition": f'attachment; filename="{exports.export_filename(state, "json")}"'},
    )
