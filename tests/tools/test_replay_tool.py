"""`python -m cardsort_app.tools.replay FILE|CODE --at SEQ` prints the state at that seq, from an export
file and from the database, the same as the reducers give."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cardsort_app.domain.reducer import replay
from cardsort_app.domain.upcasting import parse_versioned
from cardsort_app.store import migrate
from cardsort_app.store.eventstore import EventStore

FIXTURE = Path(__file__).parents[1] / "fixtures" / "schema_v1.json"


def _run(*args: str, env: dict | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "cardsort_app.tools.replay", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", **(env or {})},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _row(output: str, name: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(f"│ {name} "))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_from_an_export_file_at_a_seq(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"session": {"schemaVersion": 1}, "events": data["events"]}))
    events = [parse_versioned(e, 1) for e in data["events"]]
    for at in (40, 80, len(events)):
        state = replay(events[:at])
        out = _run(str(export), "--at", str(at))
        assert f"seq {at} of {len(events)}" in out
        assert events[at - 1].type in out
        for person in state.participants.values():
            row = _row(out, person.name)
            assert row[2] == ("Done" if person.step == 4 else str(person.step))
            assert row[8:10] == [str(len(person.pile("top8"))), str(len(person.pile("top3")))]
    out = _run(str(export))  # default: the newest event, the locked team board
    assert "Team board (locked)" in out
    state = replay(events)
    assert all(line in out for line in ("Courage", "Adventure")), out
    assert len(state.team.values) == 3


def test_from_the_database_by_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cardsort.db'}"
    migrate.upgrade(url)
    data = json.loads(FIXTURE.read_text())
    events = [parse_versioned(e, 1) for e in data["events"]]
    code = events[0].session_code
    with EventStore(url, snapshot_every=10) as store:
        store.create_session(code, "Workshop", "values-mini", "x")
        store.append_many([e.model_copy(update={"seq": None}) for e in events])
    out = _run(code, "--at", "55", env={"DATABASE_URL": url})
    assert "seq 55 of 97" in out
    state = replay(events[:55])
    for person in state.participants.values():
        assert _row(out, person.name)[2] == ("Done" if person.step == 4 else str(person.step))
    assert "Team board (not open)" in out
