"""REST of the facilitator's workshop (DESIGN §5b): create options, the new GET fields, CSV/JSON exports,
custom decks, download tokens, and the facilitator commands as the service runs them."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cardsort_app.domain import rules
from cardsort_app.domain.decks import load_deck
from cardsort_app.domain.events import Pile, RevealType, parse_event
from cardsort_app.domain.reducer import replay
from cardsort_app.domain.state import PILES
from cardsort_app.service import exports
from cardsort_app.service.errors import Forbidden, Rejected
from cardsort_app.service.runtime import Runtime
from cardsort_app.service.sessions import Identity
from cardsort_app.service.workshop import Workshop
from tests.service.helpers import drive, move, step

HEADER = "participant,card_id,card_label,pile,rank"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def create(client: httpx.AsyncClient, **body) -> tuple[str, str]:
    r = await client.post("/api/sessions", json=body)
    assert r.status_code == 201, r.text
    return r.json()["code"], r.json()["facilitatorKey"]


async def get(client: httpx.AsyncClient, code: str, key: str) -> dict:
    r = await client.get(f"/api/sessions/{code}", headers=bearer(key))
    assert r.status_code == 200, r.text
    return r.json()


def deck_csv(n: int, extra: str = "") -> str:
    return "id,label,description\n" + "".join(f"c{i},Card {i},Meaning {i}\n" for i in range(n)) + extra


# --- create options and GET fields -----------------------------------------------------------------------
async def test_defaults_are_self_paced_named_and_running(client: httpx.AsyncClient) -> None:
    code, key = await create(client, deck="values-mini")
    body = await get(client, code, key)
    assert {k: body[k] for k in ("anonymous", "pacing", "openStep", "timer", "ended")} == {
        "anonymous": False,
        "pacing": "self",
        "openStep": 3,
        "timer": None,
        "ended": False,
    }


async def test_create_options_show_in_get(client: httpx.AsyncClient) -> None:
    code, key = await create(client, deck="values-mini", anonymous=True, pacing="facilitator")
    body = await get(client, code, key)
    assert (body["anonymous"], body["pacing"], body["openStep"]) == (True, "facilitator", 1)


@pytest.mark.parametrize(
    "body",
    [{"pacing": "fast"}, {"anonymous": "yes"}, {"anonymous": 1}, {"pacing": None}, {"deckCsv": 5}],
)
async def test_bad_options_are_refused_and_create_nothing(client: httpx.AsyncClient, body: dict) -> None:
    r = await client.post("/api/sessions", json=body)
    assert r.status_code == 422, r.text
    assert "facilitatorKey" not in r.text


async def test_facilitator_commands_show_in_get(client: httpx.AsyncClient, rt: Runtime) -> None:
    code, key = await create(client, deck="values-mini", pacing="facilitator")
    workshop = Workshop(rt.service, clock=lambda: 1_800_000_000_000)
    await workshop.open_step(code, key, 2)
    await workshop.start_timer(code, key, 5)
    body = await get(client, code, key)
    assert (body["openStep"], body["timer"]) == (2, {"endsAt": 1_800_000_300_000})
    await workshop.add_minute(code, key)
    assert (await get(client, code, key))["timer"] == {"endsAt": 1_800_000_360_000}
    await workshop.stop_timer(code, key)
    await workshop.end_session(code, key)
    body = await get(client, code, key)
    assert (body["timer"], body["ended"]) == (None, True)


async def test_facilitator_commands_need_the_key_and_valid_arguments(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    code, key = await create(client, deck="values-mini", pacing="facilitator")
    workshop = Workshop(rt.service)
    version = (await rt.hub.state(code)).version
    for call in (
        workshop.open_step(code, "wrong", 2),
        workshop.start_timer(code, None, 5),
        workshop.end_session(code, ""),
    ):
        with pytest.raises(Forbidden):
            await call
    for bad in (0, 4, "2; drop", None, True, 2.5, "x" * 1000):
        with pytest.raises(Rejected):
            await workshop.open_step(code, key, bad)
    for bad in (0, -1, 121, "five", None, [], {"m": 1}):
        with pytest.raises(Rejected, match="whole number"):
            await workshop.start_timer(code, key, bad)
    assert (await rt.hub.state(code)).version == version  # nothing was written


# --- custom decks ----------------------------------------------------------------------------------------
async def test_custom_deck_from_csv_lives_in_the_log(client: httpx.AsyncClient, rt: Runtime) -> None:
    code, key = await create(client, deckCsv=deck_csv(8))
    state = await rt.hub.state(code)
    assert state.deck == "custom"
    assert state.card_ids == tuple(f"c{i}" for i in range(8))
    first = (await rt.store.events_after(code, 0, 1))[0]
    assert [c.label for c in first.payload.cards] == [f"Card {i}" for i in range(8)]
    assert replay([parse_event(first.to_json())]).custom_cards == state.custom_cards


async def test_bad_deck_csv_says_what_is_wrong_per_row_and_creates_nothing(
    client: httpx.AsyncClient, db_path: Path
) -> None:
    bad = deck_csv(8, extra="c1,Again,dup\n,No id,x\nbad id!,Label,x\nok-id,,x\n")
    r = await client.post("/api/sessions", json={"deckCsv": bad})
    assert r.status_code == 400, r.text
    problems = r.json()["problems"]
    assert problems == [
        "Row 10: the id 'c1' is already used in row 3",
        "Row 11: the id is empty",
        "Row 12: the id 'bad id!' may hold only letters, digits, '-' and '_', "
        "starting with a letter or digit",
        "Row 13: the label is empty",
    ]
    assert "Row 10" in r.json()["error"]
    too_few = await client.post("/api/sessions", json={"deckCsv": deck_csv(7)})
    assert too_few.status_code == 400 and "8 to 200 cards; this file has 7" in too_few.text
    too_many = await client.post("/api/sessions", json={"deckCsv": deck_csv(201)})
    assert too_many.status_code == 400 and "this file has 201" in too_many.text
    header = await client.post("/api/sessions", json={"deckCsv": "name,text\n" + deck_csv(8)})
    assert header.status_code == 400 and "header" in header.text
    engine = sa.create_engine(f"sqlite:///{db_path}", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:  # no session row, no event: nothing was stored at all
        assert conn.execute(sa.text("SELECT count(*) FROM sessions")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == 0
    engine.dispose()


async def test_a_200_card_deck_with_long_text_fits(client: httpx.AsyncClient, rt: Runtime) -> None:
    rows = "".join(f"card-{i:03d},{'L' * 40} {i},{'d' * 100}\n" for i in range(200))
    code, _ = await create(client, deckCsv="id,label,description\n" + rows)
    assert len((await rt.hub.state(code)).card_ids) == 200
    # Longer still: refused whole, with the reason (one SESSION_CREATED must fit one bus message).
    rows = "".join(f"card-{i:03d},{'L' * 40} {i},{'d' * 200}\n" for i in range(200))
    r = await client.post("/api/sessions", json={"deckCsv": "id,label,description\n" + rows})
    assert r.status_code == 400 and "shorten the descriptions" in r.json()["error"]


# --- exports ---------------------------------------------------------------------------------------------
async def _workshop_with_people(
    client: httpx.AsyncClient, rt: Runtime, **options
) -> tuple[str, str, list[Identity]]:
    code, key = await create(client, deck="values-mini", **options)
    people = [await rt.service.join(code, name) for name in ("Ann", "Bo", "=Cleo")]
    await drive(rt, code, people[0], 4)
    await drive(rt, code, people[1], 3)
    state = await rt.hub.state(code)
    await move(rt, code, people[2], state.card_ids[0], Pile.IMPORTANT)
    await rt.service.leave(code, await rt.service.join(code, "Gone"))  # left: not exported
    return code, key, people


async def test_csv_matches_get_exactly(client: httpx.AsyncClient, rt: Runtime) -> None:
    code, key, _ = await _workshop_with_people(client, rt)
    r = await client.get(f"/api/sessions/{code}/export.csv", headers=bearer(key))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0] == HEADER
    rows = list(csv.DictReader(io.StringIO(r.text)))
    body = await get(client, code, key)
    labels = {c.id: c.name for c in load_deck("values-mini").cards}
    expected = []
    for person in body["participants"]:
        for pile in PILES:
            cards = body["piles"][person["id"]][pile]
            for i, card in enumerate(cards, start=1):
                rank = str(i) if pile in ("top3", "top8") else ""
                name = "'" + person["name"] if person["name"].startswith("=") else person["name"]
                expected.append(
                    {
                        "participant": name,
                        "card_id": card,
                        "card_label": labels[card],
                        "pile": pile,
                        "rank": rank,
                    }
                )
    assert rows == expected
    assert len(rows) == 3 * len(labels)
    assert {r["participant"] for r in rows} == {"Ann", "Bo", "'=Cleo"}  # a formula is defused


async def test_json_export_is_the_session_and_the_whole_log(client: httpx.AsyncClient, rt: Runtime) -> None:
    code, key, _ = await _workshop_with_people(client, rt)
    r = await client.get(f"/api/sessions/{code}/export.json", headers=bearer(key))
    assert r.status_code == 200
    body = r.json()
    assert body["session"] == await get(client, code, key)
    events = [parse_event(e) for e in body["events"]]
    assert [e.seq for e in events] == list(range(1, body["session"]["version"] + 1))
    assert replay(events) == await rt.hub.state(code)


@pytest.mark.parametrize("path", ["export.csv", "export.json"])
async def test_exports_need_the_key_or_a_valid_token(
    client: httpx.AsyncClient, rt: Runtime, path: str
) -> None:
    code, key = await create(client, deck="values-mini")
    url = f"/api/sessions/{code}/{path}"
    assert (await client.get(url)).status_code == 404  # a wrong key answers as an unknown code
    assert (await client.get(url, headers=bearer("wrong"))).status_code == 404
    assert (await client.get("/api/sessions/NOPE99/" + path, headers=bearer(key))).status_code == 404
    record = await rt.store.get_session(code)
    token = exports.export_token(code, record.facilitator_key_hash)
    assert (await client.get(url, params={"token": token})).status_code == 200
    expired = exports.export_token(code, record.facilitator_key_hash, now_ms=0)
    for bad in (expired, token[:-1] + ("0" if token[-1] != "0" else "1"), "x.y", "", "1" * 100):
        assert (await client.get(url, params={"token": bad})).status_code == 404, bad
    other, _ = await create(client, deck="values-mini")  # a token opens only its own session
    assert (await client.get(f"/api/sessions/{other}/{path}", params={"token": token})).status_code == 404


def test_download_tokens_expire_and_are_bound_to_the_session() -> None:
    now = int(time.time() * 1000)
    token = exports.export_token("ABC123", "hash", now_ms=now)
    assert exports.token_valid(token, "ABC123", "hash", now_ms=now)
    assert not exports.token_valid(token, "ABC124", "hash", now_ms=now)
    assert not exports.token_valid(token, "ABC123", "other", now_ms=now)
    assert not exports.token_valid(token, "ABC123", "hash", now_ms=now + exports.TOKEN_TTL_MS + 1)


# --- the participant's erasure and the facilitator's reveal in an ended session ---------------------------
async def test_erasing_removes_the_name_from_get(client: httpx.AsyncClient, rt: Runtime) -> None:
    code, key = await create(client, deck="values-mini")
    ann = await rt.service.join(code, "Ann")
    await drive(rt, code, ann, 3)
    await rt.service.command(code, ann, lambda s, pid: rules.reveal(s, pid, RevealType.TOP8))
    await Workshop(rt.service).erase(code, ann)
    body = await get(client, code, key)
    assert "Ann" not in str(body)
    assert body["participants"] == [] and body["reveals"] == []


async def test_nothing_moves_after_the_end(client: httpx.AsyncClient, rt: Runtime) -> None:
    code, key = await create(client, deck="values-mini")
    ann = await rt.service.join(code, "Ann")
    await Workshop(rt.service).end_session(code, key)
    with pytest.raises(Rejected, match="has ended"):
        await step(rt, code, ann, +1)
    with pytest.raises(Rejected, match="has ended"):
        await rt.service.join(code, "Bo")
