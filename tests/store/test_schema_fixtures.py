"""Old sessions keep working: every committed fixture log (tests/fixtures/schema_v*.json, each written by
the code of its schema version) still replays, through the upcasters, to the state it had when written --
in the domain alone and through a real event store that holds it with its stored schema version.

A change that breaks reading an old session fails here. See README "Event schema versions"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.rules import check
from cardsort_app.domain.state import SessionState
from cardsort_app.domain.upcasting import CURRENT_SCHEMA_VERSION, parse_versioned
from cardsort_app.store.eventstore import EventStore
from cardsort_app.store.tables import events_table, sessions_table, utcnow
from tests.fixtures.schema_view import durable_view

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures").glob("schema_v*.json"))


def test_there_is_a_fixture_for_the_current_schema_version() -> None:
    names = {p.name for p in FIXTURES}
    assert f"schema_v{CURRENT_SCHEMA_VERSION}.json" in names, names


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_a_fixture_log_replays_to_the_state_it_was_written_with(path: Path) -> None:
    data = json.loads(path.read_text())
    events = [parse_versioned(e, data["schemaVersion"]) for e in data["events"]]
    state = SessionState.empty(events[0].session_code)
    for event in events:
        check(state, event)  # still a valid history under today's rules
        state = reduce(state, event)
    assert durable_view(state) == data["expected"]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_the_store_reads_a_fixture_log_stored_in_its_own_schema_version(
    path: Path, store: EventStore, db_url: str
) -> None:
    data = json.loads(path.read_text())
    code = f"FX{path.stem.split('_v')[-1]}{store.dialect[:2].upper()}"
    rows = []
    for wire in data["events"]:
        wire = {**wire, "sessionCode": code}
        rows.append(
            {
                "session_code": code,
                "seq": wire["seq"],
                "event_id": f"{code}-{wire['id']}",
                "type": wire["type"],
                "participant_id": wire["participantId"],
                "body": json.dumps({**wire, "id": f"{code}-{wire['id']}"}),
                "schema_version": data["schemaVersion"],
                "created_at": utcnow(),
                "published": True,
            }
        )
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.delete(events_table).where(events_table.c.session_code == code))
            conn.execute(sa.delete(sessions_table).where(sessions_table.c.code == code))
            conn.execute(
                sa.insert(sessions_table).values(
                    code=code,
                    title="fixture",
                    deck="values-mini",
                    facilitator_key_hash="x",
                    last_seq=len(rows),
                    created_at=utcnow(),
                )
            )
            conn.execute(sa.insert(events_table), rows)
    finally:
        engine.dispose()
    expected = {**data["expected"], "code": code}
    assert durable_view(store.load_full(code)) == expected
    assert durable_view(store.load(code)) == expected
