"""The append's single serialisation: the stored body is the event's own wire text with its seq."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from benchmarks.workload import session_log
from cardsort_app.domain.events import Event, InvalidEvent, parse_event
from cardsort_app.store.appender import Prepared
from tests.unit.strategies import logs

from .helpers import created


def _check_splice(events: list[Event]) -> None:
    for e in events:
        raw = e.model_copy(update={"seq": None})
        p = Prepared(raw)
        for seq in (1, 7, 123_456):
            assert json.loads(p.body(seq)) == json.loads(raw.sequenced(seq).to_json())  # the wire's content
            assert parse_event(p.body(seq)) == raw.sequenced(seq)


def test_the_spliced_body_is_the_sequenced_wire_text_on_the_benchmark_workload() -> None:
    _check_splice(session_log(2000))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs(max_events=120))
def test_the_spliced_body_is_the_sequenced_wire_text_for_any_valid_log(log: list[Event]) -> None:
    """Every event type the rules can produce (joins, moves, steps, reveals, timers, erasure, end)."""
    _check_splice(log)


def test_a_string_holding_the_keys_does_not_fool_the_splice() -> None:
    e = created("ABCD12").model_copy(update={"id": '"seq":1,"type":"X","payload":'})
    p = Prepared(e)
    assert (
        json.loads(p.body(42))["seq"] == 42
        and json.loads(p.body(42))["id"] == '"seq":1,"type":"X","payload":'
    )
    assert parse_event(p.body(42)) == e.sequenced(42)


def test_an_event_carrying_a_seq_is_stored_under_the_logs() -> None:
    e = created("ABCD12")
    p = Prepared(e.sequenced(9))
    assert parse_event(p.body(3)) == e.sequenced(3) and p.event.seq == 1


def test_an_event_that_bypassed_validation_is_refused_before_any_sql() -> None:
    with pytest.raises(InvalidEvent):
        Prepared(created("ABCD12").model_copy(update={"participant_id": ""}))
