"""POST /api/sessions/import: an export round-trips into an equal, read-only session; a malformed,
truncated or tampered export is refused naming the first offending event, and nothing is created."""

from __future__ import annotations

import copy
import json

import httpx
import sqlalchemy as sa

from cardsort_app.domain.upcasting import CURRENT_SCHEMA_VERSION
from cardsort_app.service.runtime import Runtime
from cardsort_app.store.tables import sessions_table
from tests.support.workload import workload

N_EVENTS = 3000


async def _export(client: httpx.AsyncClient, code: str, key: str) -> dict:
    r = await client.get(f"/api/sessions/{code}/export.json", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r.json()


async def _busy_session(client: httpx.AsyncClient, rt: Runtime) -> tuple[str, str]:
    created = (await client.post("/api/sessions", json={"title": "Busy day"})).json()
    code = created["code"]
    start = await rt.hub.state(code)
    events, _ = workload(start, n_events=N_EVENTS, seed=11)
    for i in range(0, len(events), 500):
        rt.store.sync.append_many(events[i : i + 500])
    await rt.hub.catch_up(code)
    return code, created["facilitatorKey"]


def _comparable(view: dict) -> dict:
    """A GET answer without what may differ after an import: the code, who is online, timestamps."""
    view = copy.deepcopy(view)
    view.pop("code")
    for person in view["participants"]:
        person.pop("online")
    view.pop("timer", None)  # epoch ms
    return view


def _session_count(rt: Runtime) -> int:
    with rt.store.sync._engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(sessions_table)).scalar_one()


async def test_export_import_round_trip_of_a_busy_session(client: httpx.AsyncClient, rt: Runtime) -> None:
    code, key = await _busy_session(client, rt)
    export = await _export(client, code, key)
    assert len(export["events"]) > N_EVENTS
    assert export["schemaVersion"] == CURRENT_SCHEMA_VERSION
    original = export["session"]
    assert original["team"]["locked"] and original["team"]["values"]
    # Both exports carry the locked team values (the CSV after the participants' rows).
    csv = (
        await client.get(f"/api/sessions/{code}/export.csv", headers={"Authorization": f"Bearer {key}"})
    ).text
    team_rows = [row.split(",") for row in csv.splitlines() if row.startswith("Team values,")]
    assert [(r[1], r[3], r[4]) for r in team_rows] == [
        (c, "team-values", str(i)) for i, c in enumerate(original["team"]["values"], 1)
    ]
    assert len(original["reveals"]) >= 12

    r = await client.post("/api/sessions/import", content=json.dumps(export))
    assert r.status_code == 201, r.text
    new_code, new_key = r.json()["code"], r.json()["facilitatorKey"]
    assert new_code != code
    imported = await client.get(f"/api/sessions/{new_code}", headers={"Authorization": f"Bearer {new_key}"})
    assert imported.status_code == 200
    assert _comparable(imported.json()) == _comparable(original)
    # Every participant's piles, steps, reveals and the team board, straight from both projections.
    before, after = await rt.hub.state(code), await rt.hub.state(new_code)
    assert after.participants == before.participants
    assert after.reveals == before.reveals
    assert after.team == before.team
    assert after.version == before.version
    # Loading from the log (snapshots + tail) gives the same state as a full replay.
    assert rt.store.sync.load(new_code) == rt.store.sync.load_full(new_code) == after
    assert rt.store.sync.snapshot_seqs(new_code)  # replay and reload stay fast

    # A record, not a workshop: never ended as idle.
    from datetime import UTC, datetime, timedelta

    assert new_code not in rt.store.sync.idle_sessions(datetime.now(UTC) + timedelta(days=1), limit=1000)
    # Read-only: nothing can change it, not even the facilitator; its key is not the original's.
    other_key = await client.get(f"/api/sessions/{new_code}", headers={"Authorization": f"Bearer {key}"})
    assert other_key.status_code in (403, 404)  # a wrong key (answered like an unknown code)
    from cardsort_app.domain import team
    from cardsort_app.service.errors import ReadOnly

    try:
        await rt.service.facilitator_command(new_code, new_key, team.open_board)
    except ReadOnly:
        pass
    else:
        raise AssertionError("an imported session accepted a command")


async def _refused(client: httpx.AsyncClient, rt: Runtime, body: bytes | str, *needles: str) -> None:
    count = _session_count(rt)
    r = await client.post("/api/sessions/import", content=body)
    assert r.status_code == 400, r.text
    message = r.json()["error"]
    for needle in needles:
        assert needle in message, message
    assert _session_count(rt) == count  # nothing created


async def test_malformed_truncated_and_tampered_exports_are_refused(client, rt: Runtime) -> None:
    created = (await client.post("/api/sessions", json={"deck": "values-mini"})).json()
    code, key = created["code"], created["facilitatorKey"]
    events, _ = workload(await rt.hub.state(code), people=3, n_events=200, seed=3)
    rt.store.sync.append_many(events)
    await rt.hub.catch_up(code)
    good = await _export(client, code, key)

    await _refused(client, rt, "{not json", "not JSON")
    await _refused(client, rt, json.dumps({"events": []}), "non-empty")
    await _refused(client, rt, json.dumps([1, 2]), "JSON object")

    bad = copy.deepcopy(good)
    bad["events"][40]["payload"]["cardId"] = 7  # malformed
    await _refused(client, rt, json.dumps(bad), "event 41", f"id '{good['events'][40]['id']}'", "cardId")

    bad = copy.deepcopy(good)
    bad["events"][40]["type"] = "CARD_EXPLODED"
    await _refused(client, rt, json.dumps(bad), "event 41", "unknown event type")

    bad = copy.deepcopy(good)
    del bad["events"][60]  # a hole in the middle
    await _refused(client, rt, json.dumps(bad), "event 61", "expected seq 61")

    bad = copy.deepcopy(good)
    bad["events"] = bad["events"][:-5]  # truncated at the end: the summary says more
    await _refused(client, rt, json.dumps(bad), f"version {good['session']['version']}")

    bad = copy.deepcopy(good)  # tampered: a step skipped straight to "done"
    step = next(i for i, e in enumerate(bad["events"]) if e["type"] == "STEP_TRANSITIONED")
    bad["events"][step]["payload"]["toStep"] = 4
    await _refused(client, rt, json.dumps(bad), f"event {step + 1}", "not a valid history")

    bad = copy.deepcopy(good)  # tampered: somebody else's name on the summary
    bad["session"]["participants"][0]["step"] = 9
    await _refused(client, rt, json.dumps(bad), "session.participants")

    bad = copy.deepcopy(good)
    bad["events"][5]["sessionCode"] = "OTHER1"
    await _refused(client, rt, json.dumps(bad), "event 6", "belongs to session OTHER1")

    bad = copy.deepcopy(good)
    bad["schemaVersion"] = 99
    await _refused(client, rt, json.dumps(bad), "schemaVersion 99")

    r = await client.post("/api/sessions/import", content=json.dumps(good))  # the untouched one imports
    assert r.status_code == 201
