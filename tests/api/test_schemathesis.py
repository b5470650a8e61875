"""Schemathesis against the app's own OpenAPI document (`/api/openapi.json`), in-process over ASGI: every
operation, positive and negative data (wrong types, missing and extra fields, hostile strings and
headers), half of the calls aimed at a real session with its real key so the deep paths run too. No
answer may be a 5xx, and none may echo a secret it was not asked for."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from cardsort_app.api.routes import api
from cardsort_app.bootstrap import build
from cardsort_app.service import runtime
from cardsort_app.service.limits import Limits, LimitSettings

schema = schemathesis.openapi.from_asgi("/api/openapi.json", api)
schema.config.generation.update(modes=list(GenerationMode), max_examples=30)
_turn = itertools.count()


@pytest.fixture(scope="module")
def real_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The process runtime on a fresh SQLite file, limits out of the way (they are tested on their own),
    and one real session to aim at."""
    previous = runtime._runtime
    built = build(f"sqlite:///{Path(tmp_path_factory.mktemp('schemathesis')) / 'cardsort.db'}")
    big = 10**9
    built.service.limits = Limits(
        LimitSettings(creates_per_client_per_minute=big, creates_per_minute=big, max_open_sessions=big)
    )
    runtime._runtime = built
    try:
        from starlette.testclient import TestClient

        with TestClient(api) as client:
            created = client.post("/api/sessions", json={"deck": "values-mini"}).json()
        yield created
    finally:
        runtime._runtime = previous
        built.store.sync.dispose()


def test_the_schema_lists_every_operation() -> None:
    operations = {(r.ok().method.upper(), r.ok().path) for r in schema.get_all_operations()}
    assert ("POST", "/api/sessions") in operations and ("GET", "/api/sessions/{code}") in operations
    assert ("GET", "/api/sessions/{code}/events") in operations and ("GET", "/api/health") in operations
    assert len(operations) >= 6


@schema.parametrize()
def test_no_operation_answers_5xx(case, real_session: dict[str, str]) -> None:
    if "code" in (case.path_parameters or {}) and next(_turn) % 2 == 0:
        case.path_parameters["code"] = real_session["code"]
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {real_session['facilitatorKey']}"}
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, response.text[:500]
    if "Authorization" not in (case.headers or {}) and response.status_code < 300:
        assert real_session["facilitatorKey"] not in response.text  # no key without asking with it
