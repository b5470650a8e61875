"""REST contract of DESIGN §5: /api/sessions, /api/sessions/{code}, .../events, /api/health."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cardsort_app.domain import rules
from cardsort_app.domain.decks import deck_names, load_deck
from cardsort_app.domain.events import Pile, RevealType, parse_event
from cardsort_app.domain.state import PILES
from cardsort_app.service.runtime import Runtime
from tests.service.helpers import drive, move

CODE_RE = re.compile(r"^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def create(client: httpx.AsyncClient, **body: str) -> tuple[str, str]:
    r = await client.post("/api/sessions", json=body)
    assert r.status_code == 201, r.text
    return r.json()["code"], r.json()["facilitatorKey"]


# --- POST /api/sessions ------------------------------------------------------------------------------
async def test_create_without_a_body(client: httpx.AsyncClient, rt: Runtime) -> None:
    r = await client.post("/api/sessions")
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"code", "facilitatorKey"}
    assert CODE_RE.match(body["code"])
    state = await rt.hub.state(body["code"])
    assert state.deck == "values" and state.card_ids == load_deck("values").card_ids
    assert await rt.service.check_facilitator(body["code"], body["facilitatorKey"]) == body["code"]


async def test_create_with_a_body(client: httpx.AsyncClient, rt: Runtime) -> None:
    code, key = await create(client, title="Offsite", deck="values-mini")
    state = await rt.hub.state(code)
    assert (state.title, state.deck, state.version) == ("Offsite", "values-mini", 1)
    other, other_key = await create(client)  # an empty object is fine too
    assert other != code and other_key != key
    r = await client.post("/api/sessions", json={"title": "x" * 120})
    assert r.status_code == 201


async def test_create_with_an_unknown_deck(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/sessions", json={"deck": "tarot"})
    assert r.status_code in (400, 409)
    assert set(r.json()) == {"error"}
    assert "tarot" in r.json()["error"]
    for name in deck_names():
        assert name in r.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"title": "t", "facilitatorKey": "mine"},  # extra field
        {"code": "AAAAAA"},
        {"title": "x" * 121},  # title too long
        {"deck": "d" * 41},
        {"title": 5},
        {"deck": None},
        ["values"],
    ],
    ids=["extra-key", "extra-code", "long-title", "long-deck", "int-title", "null-deck", "list"],
)
async def test_create_with_a_bad_body(client: httpx.AsyncClient, body) -> None:
    r = await client.post("/api/sessions", json=body)
    assert r.status_code == 422, r.text


async def test_create_with_malformed_json(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/sessions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422


# --- GET /api/sessions/{code} ------------------------------------------------------------------------
async def test_session_view(client: httpx.AsyncClient, rt: Runtime) -> None:
    code, key = await create(client, deck="values-mini")
    people = {name: await rt.service.join(code, name) for name in ("Ann", "Bo", "Cleo", "Dev")}
    await drive(rt, code, people["Ann"], 4)
    await drive(rt, code, people["Bo"], 3)
    await drive(rt, code, people["Cleo"], 2)
    await rt.service.reveal_all(code, key)
    rt.presence.enter("tab-1", code, people["Ann"].participant_id)
    rt.presence.enter("tab-2", code, people["Bo"].participant_id)
    rt.presence.leave("tab-2")

    r = await client.get(f"/api/sessions/{code}", headers=bearer(key))
    assert r.status_code == 200, r.text
    view = r.json()
    state = await rt.hub.state(code)
    assert {"code", "version", "participants", "piles", "reveals"} <= set(view)
    assert view["code"] == code and view["version"] == state.version == len(
        await rt.store.events_after(code, 0)
    )

    by_name = {p["name"]: p for p in view["participants"]}
    assert [p["name"] for p in view["participants"]] == ["Ann", "Bo", "Cleo", "Dev"]
    for p in view["participants"]:
        assert set(p) == {"id", "name", "step", "online"}
        assert type(p["step"]) is int and 1 <= p["step"] <= 4
        assert type(p["online"]) is bool
    assert {n: p["step"] for n, p in by_name.items()} == {"Ann": 4, "Bo": 3, "Cleo": 2, "Dev": 1}
    assert {n: p["online"] for n, p in by_name.items()} == {
        "Ann": True,
        "Bo": False,
        "Cleo": False,
        "Dev": False,
    }
    assert {n: p["id"] for n, p in by_name.items()} == {n: i.participant_id for n, i in people.items()}

    assert set(view["piles"]) == {i.participant_id for i in people.values()}
    for pid, piles in view["piles"].items():
        assert set(piles) == set(PILES)
        assert piles == {pile: list(state.participants[pid].pile(pile)) for pile in PILES}
        assert sorted(c for cards in piles.values() for c in cards) == sorted(state.card_ids)
    dev = view["piles"][people["Dev"].participant_id]
    assert dev["unsorted"] == list(state.card_ids)
    ann = view["piles"][people["Ann"].participant_id]
    assert len(ann["top8"]) + len(ann["top3"]) == 8 and len(ann["top3"]) == 3

    reveals = {(r["participantName"], r["revealType"]): r for r in view["reveals"]}
    assert set(reveals) == {("Ann", "top8"), ("Ann", "top3"), ("Bo", "top8")}
    assert sorted(reveals["Ann", "top3"]["cards"]) == sorted(ann["top3"])
    assert sorted(reveals["Ann", "top8"]["cards"]) == sorted(ann["top8"] + ann["top3"])
    for r in view["reveals"]:
        assert r["participantId"] == people[r["participantName"]].participant_id
        assert type(r["seq"]) is int

    # the code may be typed in lower case
    assert (await client.get(f"/api/sessions/{code.lower()}", headers=bearer(key))).json() == view


async def test_session_view_needs_the_key(client: httpx.AsyncClient) -> None:
    code, key = await create(client, deck="values-mini")
    other_code, other_key = await create(client, deck="values-mini")
    for headers in (
        {},
        bearer("wrong"),
        bearer(other_key),  # another session's key
        {"Authorization": key},  # no scheme
        {"Authorization": f"Basic {key}"},
        bearer(""),
    ):
        unknown = await client.get("/api/sessions/ZZZZZZ", headers=headers)
        r = await client.get(f"/api/sessions/{code}", headers=headers)
        assert r.status_code == 404, (headers, r.text)
        assert set(r.json()) == {"error"}
        assert (r.status_code, r.json()) == (unknown.status_code, unknown.json())  # no way to probe codes
        r = await client.get(f"/api/sessions/{code}/events", headers=headers)
        assert r.status_code == 404, (headers, r.text)
    assert (await client.get(f"/api/sessions/{other_code}", headers=bearer(other_key))).status_code == 200


async def test_unknown_session(client: httpx.AsyncClient) -> None:
    _code, key = await create(client, deck="values-mini")
    for path in ("/api/sessions/ZZZZZZ", "/api/sessions/ZZZZZZ/events"):
        for headers in (bearer(key), {}):
            r = await client.get(path, headers=headers)
            assert r.status_code == 404, r.text
            assert r.json() == {"error": "No session with this code and facilitator key"}


# --- GET /api/sessions/{code}/events -----------------------------------------------------------------
async def test_events_paging(client: httpx.AsyncClient, rt: Runtime) -> None:
    code, key = await create(client, deck="values-mini")
    ann = await rt.service.join(code, "Ann")
    bo = await rt.service.join(code, "Bo")
    state = await rt.hub.state(code)
    for card in state.card_ids:
        await move(rt, code, ann, card, Pile.IMPORTANT)
    for card in state.card_ids[:5]:
        await move(rt, code, bo, card, Pile.NOT_IMPORTANT)
    await rt.service.leave(code, bo)
    log = await rt.store.events_after(code, 0)
    assert len(log) == 1 + 2 + 12 + 5 + 1

    # the default page holds everything here
    r = await client.get(f"/api/sessions/{code}/events", headers=bearer(key))
    assert r.status_code == 200
    assert r.json() == {"events": [e.to_wire() for e in log], "next": len(log)}

    pages, after = [], 0
    while True:
        r = await client.get(f"/api/sessions/{code}/events?after={after}&limit=4", headers=bearer(key))
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"events", "next"}
        if not body["events"]:
            assert body["next"] == after  # nothing new: ask again from the same place
            break
        assert len(body["events"]) <= 4
        assert body["next"] == body["events"][-1]["seq"]
        pages.append(body["events"])
        after = body["next"]
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4, 1]
    events = [e for page in pages for e in page]
    assert [e["seq"] for e in events] == list(range(1, len(log) + 1))
    assert events == [e.to_wire() for e in log]
    for wire in events:  # camelCase wire events that parse back to the stored ones
        assert {
            "id",
            "type",
            "sessionCode",
            "participantId",
            "timestamp",
            "version",
            "seq",
            "payload",
        } == set(wire)
        assert wire["sessionCode"] == code
    moved = next(e for e in events if e["type"] == "CARD_MOVED")
    assert set(moved["payload"]) == {"cardId", "fromPile", "toPile", "position"}
    assert [parse_event(e) for e in events] == log

    r = await client.get(f"/api/sessions/{code}/events?after=18&limit=1000", headers=bearer(key))
    assert [e["seq"] for e in r.json()["events"]] == [19, 20, 21] and r.json()["next"] == 21
    r = await client.get(f"/api/sessions/{code}/events?after=500", headers=bearer(key))
    assert r.json() == {"events": [], "next": 500}
    r = await client.get(f"/api/sessions/{code}/events?after={2**63 - 1}", headers=bearer(key))
    assert r.json() == {"events": [], "next": 2**63 - 1}


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=-1",
        "after=-1",
        "limit=abc",
        "after=1.5",
        f"after={2**63}",
        "after=1e30",
    ],
)
async def test_events_query_bounds(client: httpx.AsyncClient, query: str) -> None:
    code, key = await create(client, deck="values-mini")
    r = await client.get(f"/api/sessions/{code}/events?{query}", headers=bearer(key))
    assert r.status_code == 422, r.text


async def test_events_limit_bounds_are_inclusive(client: httpx.AsyncClient) -> None:
    code, key = await create(client, deck="values-mini")
    for limit in (1, 1000):
        r = await client.get(f"/api/sessions/{code}/events?limit={limit}", headers=bearer(key))
        assert r.status_code == 200
        assert [e["seq"] for e in r.json()["events"]] == [1]


# --- GET /api/health ---------------------------------------------------------------------------------
async def test_health_ok(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["database"] == "ok" and r.json()["bus"] == "ok"


async def test_health_answers_head_with_its_status_and_no_body(client: httpx.AsyncClient) -> None:
    r = await client.head("/api/health")
    assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
async def test_an_unknown_api_path_answers_a_json_404(client: httpx.AsyncClient, method: str) -> None:
    r = await client.request(method, "/api/sessions/ABCDEF/nothing-here")
    assert r.status_code == 404
    assert r.json() == {"error": "No such API endpoint: /api/sessions/ABCDEF/nothing-here"}


async def test_a_known_api_path_with_another_method_answers_405_with_allow(client: httpx.AsyncClient) -> None:
    r = await client.put("/api/sessions")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.json() == {"error": "PUT is not allowed on /api/sessions"}


async def test_health_when_the_database_file_is_gone(
    client: httpx.AsyncClient, rt: Runtime, db_path: Path
) -> None:
    assert (await client.get("/api/health")).status_code == 200
    rt.store.sync.dispose()  # drop the pooled connections: the next one has to open the file ...
    shutil.rmtree(db_path.parent)  # ... in a directory that no longer exists
    r = await client.get("/api/health")
    assert r.status_code == 503, r.text
    assert r.json()["status"] == "error"
    assert r.json()["database"].startswith("error")


async def test_health_when_the_tables_are_gone(client: httpx.AsyncClient, rt: Runtime, db_path: Path) -> None:
    """A database that answers SELECT 1 but lost its schema is not usable: nothing could be loaded."""
    code, _key = await create(client, deck="values-mini")
    engine = sa.create_engine(f"sqlite:///{db_path}", poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for table in ("snapshots", "events", "participants", "sessions", "alembic_version"):
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{table}"'))
    engine.dispose()
    r = await client.get("/api/health")
    assert r.status_code == 503, r.text
    assert r.json()["status"] == "error"


async def test_reveal_flow_through_the_api_view(client: httpx.AsyncClient, rt: Runtime) -> None:
    """A participant's own reveal shows in the facilitator's view; the view never lists someone who left."""
    code, key = await create(client, deck="values-mini")
    ann = await rt.service.join(code, "Ann")
    bo = await rt.service.join(code, "Bo")
    await drive(rt, code, ann, 3)
    await rt.service.command(code, ann, lambda s, pid: rules.reveal(s, pid, RevealType.TOP8))
    await rt.service.leave(code, bo)
    view = (await client.get(f"/api/sessions/{code}", headers=bearer(key))).json()
    assert [p["name"] for p in view["participants"]] == ["Ann"]
    assert list(view["piles"]) == [ann.participant_id]
    assert [(r["participantName"], r["revealType"]) for r in view["reveals"]] == [("Ann", "top8")]


async def test_a_database_outage_answers_503_not_500(
    client: httpx.AsyncClient, rt: Runtime, db_path: Path
) -> None:
    """Ordinary endpoints say the database is unavailable (retryable), with the usual error shape."""
    code, key = await create(client, deck="values-mini")
    rt.store.sync.dispose()
    shutil.rmtree(db_path.parent)
    r = await client.get(f"/api/sessions/{code}/events", headers=bearer(key))
    assert r.status_code == 503, r.text
    assert r.json() == {"error": "The database is unavailable; try again shortly"}
