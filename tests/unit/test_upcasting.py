"""Event schema versions: the upcast chain (one pure step per version), and refusing what this code
cannot read. The steps here are illustrative (a rename and a new field) because version 1 is the first
versioned schema; a real step is registered in cardsort_app.domain.upcasting.UPCASTERS."""

from __future__ import annotations

import copy

import pytest

from cardsort_app.domain import upcasting
from cardsort_app.domain.events import InvalidEvent
from cardsort_app.domain.upcasting import CURRENT_SCHEMA_VERSION, UPCASTERS, parse_versioned, upcast

MOVE_V1 = {
    "id": "e1",
    "type": "CARD_MOVED",
    "sessionCode": "ABCD",
    "participantId": "p1",
    "timestamp": 1,
    "version": 3,
    "seq": 4,
    "payload": {"cardId": "fun", "fromPile": "unsorted", "toPile": "top8", "position": 0},
}


def _rename_pile_v1_to_v2(event: dict) -> dict:
    if event["type"] != "CARD_MOVED":
        return event
    payload = {**event["payload"], "toPile": {"top8": "top-8"}.get(event["payload"]["toPile"], "x")}
    return {**event, "payload": payload}


def _add_note_v2_to_v3(event: dict) -> dict:
    return {**event, "note": f"from {event['type']}"}


STEPS = {1: _rename_pile_v1_to_v2, 2: _add_note_v2_to_v3}


def test_the_chain_applies_every_step_in_order_and_never_mutates_the_input() -> None:
    before = copy.deepcopy(MOVE_V1)
    out = upcast(MOVE_V1, 1, current=3, steps=STEPS)
    assert out["payload"]["toPile"] == "top-8" and out["note"] == "from CARD_MOVED"
    assert upcast(MOVE_V1, 2, current=3, steps=STEPS)["payload"]["toPile"] == "top8"  # only 2 -> 3
    assert before == MOVE_V1


def test_an_event_already_current_comes_back_equal() -> None:
    assert upcast(MOVE_V1, CURRENT_SCHEMA_VERSION) == MOVE_V1
    assert parse_versioned(MOVE_V1, CURRENT_SCHEMA_VERSION).to_wire() == MOVE_V1


@pytest.mark.parametrize("version", [0, -1, CURRENT_SCHEMA_VERSION + 1, "1", True, None])
def test_a_version_this_code_cannot_read_is_refused_clearly(version) -> None:
    with pytest.raises(InvalidEvent, match="schema version"):
        upcast(MOVE_V1, version)


def test_a_missing_step_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="no upcaster from schema version 2 to 3"):
        upcast(MOVE_V1, 1, current=3, steps={1: _rename_pile_v1_to_v2})


def test_every_registered_step_is_pure_and_covers_the_chain() -> None:
    # One step per version below the current one, and no step beyond it.
    assert sorted(UPCASTERS) == list(range(1, CURRENT_SCHEMA_VERSION))
    for version, step in UPCASTERS.items():
        event = copy.deepcopy(MOVE_V1)
        step(event)
        assert event == MOVE_V1, f"the upcaster from {version} changed its input"


def test_parse_versioned_reads_json_text_too() -> None:
    import json

    assert parse_versioned(json.dumps(MOVE_V1), 1).payload.card_id == "fun"
    with pytest.raises(InvalidEvent):
        parse_versioned("{not json", 1)
    assert upcasting.CURRENT_SCHEMA_VERSION >= 1
