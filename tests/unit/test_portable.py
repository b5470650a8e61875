"""verify_export: every valid log is accepted as is; any hole, reorder or foreign event is refused at the
first offending event."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardsort_app.domain.portable import BadExport, rehome, verify_export
from cardsort_app.domain.reducer import replay
from tests.unit.strategies import logs

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def export_of(log) -> dict:
    return {"session": {"version": len(log), "schemaVersion": 1}, "events": [e.to_wire() for e in log]}


@PROPERTY
@given(logs())
def test_a_valid_log_is_accepted_and_replays_to_the_same_state(log) -> None:
    verified = verify_export(export_of(log))
    assert verified.state == replay(log)
    assert verified.events == log


@PROPERTY
@given(logs(max_events=40), st.data())
def test_a_missing_event_is_refused_at_its_place(log, data) -> None:
    if len(log) < 3:
        return
    drop = data.draw(st.integers(1, len(log) - 2))  # not the last: that is a truncation, see below
    export = export_of(log)
    del export["events"][drop]
    with pytest.raises(BadExport, match=rf"^event {drop + 1} "):
        verify_export(export)


@PROPERTY
@given(logs(max_events=40))
def test_a_truncated_log_is_refused_by_its_summary(log) -> None:
    if len(log) < 2:
        return
    export = export_of(log)
    export["events"].pop()
    with pytest.raises(BadExport, match="missing"):
        verify_export(export)


@PROPERTY
@given(logs(max_events=20))
def test_rehome_keeps_the_history_under_a_new_code_with_new_ids(log) -> None:
    moved = list(rehome(log, "NEWC0DE"))
    assert all(e.session_code == "NEWC0DE" for e in moved)
    assert not {e.id for e in moved} & {e.id for e in log}
    assert replay(moved).participants == replay(log).participants
