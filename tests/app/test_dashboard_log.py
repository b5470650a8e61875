"""The dashboard's live event log says what every event did: no type shows an empty detail column."""

from __future__ import annotations

import json
from pathlib import Path

from cardsort_app.domain import facilitation
from cardsort_app.domain.events import EventType
from cardsort_app.domain.reducer import replay
from cardsort_app.domain.upcasting import parse_versioned
from cardsort_app.ui.dashboard_state import log_row

FIXTURE = Path(__file__).parents[1] / "fixtures" / "schema_v1.json"  # a whole workshop, team board included


def test_every_event_type_has_a_detail_in_the_log() -> None:
    events = [parse_versioned(e, 1) for e in json.loads(FIXTURE.read_text())["events"]]
    state = replay(events[:1])
    rows = [(events[0].type, log_row(state, events[0])["detail"])]
    for e in events[1:]:
        rows.append((e.type, log_row(state, e)["detail"]))
        state = replay([e], state)
    pid = next(iter(state.participants))
    for make in (
        lambda s: facilitation.open_step(s, 2),
        lambda s: facilitation.start_timer(s, 300, 1_000),
        lambda s: facilitation.extend_timer(s, 60, 2_000),
        lambda s: facilitation.stop_timer(s),
        lambda s: facilitation.erase(s, pid),
        lambda s: facilitation.end_session(s),
    ):
        e = make(state).sequenced(state.version + 1)
        rows.append((e.type, log_row(state, e)["detail"]))
        state = replay([e], state)
    assert {t for t, _ in rows} == set(EventType), "the log test covers every event type"
    assert [t for t, detail in rows if not detail] == []
    team = next(d for t, d in rows if t == EventType.TEAM_CARD_MOVED)
    assert "→ team-values #" in team or "→ candidates #" in team
