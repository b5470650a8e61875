"""REST limits and manners: 429 with Retry-After, 413 for big bodies (never echoed), 422 without the input,
an unknown code and a wrong key answering alike, and the security headers on every response."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from cardsort_app.api.routes import api
from cardsort_app.service.limits import Limits, LimitSettings
from cardsort_app.service.runtime import Runtime


def client_from(ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api, client=(ip, 4711)), base_url="http://t")


@pytest.fixture
async def from_a() -> AsyncIterator[httpx.AsyncClient]:
    async with client_from("192.0.2.10") as c:
        yield c


async def test_session_creation_is_limited_per_client_with_retry_after(rt: Runtime, from_a) -> None:
    rt.service.limits = Limits(LimitSettings(creates_per_client_per_minute=3, creates_per_minute=100))
    codes = [(await from_a.post("/api/sessions", json={"deck": "values-mini"})).status_code for _ in range(3)]
    assert codes == [201, 201, 201]
    r = await from_a.post("/api/sessions", json={"deck": "values-mini"})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "20"  # 3 per minute: the next one in 20 s
    assert set(r.json()) == {"error"} and "wait" in r.json()["error"]
    async with client_from("192.0.2.11") as other:
        assert (await other.post("/api/sessions")).status_code == 201


async def test_session_creation_is_limited_globally(rt: Runtime) -> None:
    rt.service.limits = Limits(LimitSettings(creates_per_client_per_minute=100, creates_per_minute=2))
    answers = []
    for i in range(3):
        async with client_from(f"192.0.2.{20 + i}") as c:
            answers.append((await c.post("/api/sessions")).status_code)
    assert answers == [201, 201, 429]


async def test_max_open_sessions(rt: Runtime, from_a) -> None:
    rt.service.limits = Limits(LimitSettings(max_open_sessions=rt.hub.open_sessions() + 1))
    assert (await from_a.post("/api/sessions")).status_code == 201
    r = await from_a.post("/api/sessions")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


async def test_a_large_body_is_refused_unread_and_not_echoed(client: httpx.AsyncClient, rt: Runtime) -> None:
    marker = "ECHO-ME-" * 20_000  # 160 KB, over the 64 KiB default
    before = rt.hub.open_sessions()
    r = await client.post("/api/sessions", json={"title": marker})
    assert r.status_code == 413
    assert "ECHO-ME" not in r.text and set(r.json()) == {"error"}
    assert rt.hub.open_sessions() == before

    async def chunks():  # no Content-Length: counted as it streams
        for _ in range(40):
            yield b'{"title": "' + b"x" * 4096

    r = await client.post("/api/sessions", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "xxxx" not in r.text  # DESIGN §5b: bodies over the limit 413
    assert set(r.json()) == {"error"} and "larger than" in r.json()["error"]
    assert rt.hub.open_sessions() == before
    r = await client.post("/api/sessions", content=b"{}", headers={"content-length": "nonsense"})
    assert r.status_code in (400, 413)


async def test_validation_errors_never_echo_the_input(client: httpx.AsyncClient) -> None:
    secret = "SECRET-" + "y" * 500
    for body in ({"title": secret}, {"deck": secret}, {"nope": secret}, {"anonymous": secret}):
        r = await client.post("/api/sessions", json=body)
        assert r.status_code == 422, r.text
        assert "SECRET" not in r.text
        payload = r.json()
        assert payload["error"].startswith("body.") and payload["detail"]
        assert all(set(d) == {"loc", "msg", "type"} for d in payload["detail"])
    r = await client.get("/api/sessions/ABCDEF/events", params={"after": "SECRET-x"})
    assert r.status_code == 422 and "SECRET" not in r.text


async def test_unknown_code_and_wrong_key_answer_alike(client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/sessions", json={"deck": "values-mini"})).json()
    for path in ("", "/events", "/export.csv", "/export.json"):
        known = await client.get(
            f"/api/sessions/{created['code']}{path}", headers={"Authorization": "Bearer x"}
        )
        unknown = await client.get(f"/api/sessions/ZZZZZZ{path}", headers={"Authorization": "Bearer x"})
        anonymous = await client.get(f"/api/sessions/{created['code']}{path}")
        assert known.status_code == unknown.status_code == anonymous.status_code == 404, path
        assert known.json() == unknown.json() == anonymous.json(), path


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for r in (
        await client.get("/api/health"),
        await client.post("/api/sessions", json={"title": 5}),
        await client.get("/api/sessions/ZZZZZZ"),
        await client.get("/api/openapi.json"),
    ):
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert r.headers["x-content-type-options"] == "nosniff"
    json.loads((await client.get("/api/openapi.json")).text)  # still served whole
