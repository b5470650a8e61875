"""`send_commands` (ui/resend.py) reads what a page's outbox sends field by field: a malformed batch or
command is refused (None) before any state is touched; the ids it accepts are ones the log can store."""

from __future__ import annotations

import uuid

import pytest

from cardsort_app.ui.resend import MAX_ARGS, MAX_COMMANDS, Command, read_batch, read_command

COMMAND_ID = str(uuid.uuid4())
OPEN_STEP = {"id": COMMAND_ID, "name": "open_step", "args": [2]}


def test_well_formed_commands_are_read() -> None:
    assert read_command(OPEN_STEP) == Command(COMMAND_ID, "open_step", (2,))
    assert read_command({"id": COMMAND_ID, "name": "stop_timer"}) == Command(COMMAND_ID, "stop_timer", ())
    assert read_batch({"batch": "b", "commands": [OPEN_STEP]}, "commands", MAX_COMMANDS) == ("b", [OPEN_STEP])


@pytest.mark.parametrize(
    "command",
    [
        None,
        "open_step",
        [OPEN_STEP],
        {**OPEN_STEP, "id": 7},
        {**OPEN_STEP, "id": "short"},
        {**OPEN_STEP, "id": "x" * 65},
        {**OPEN_STEP, "id": "../../etc/passwd"},
        {**OPEN_STEP, "name": None},
        {**OPEN_STEP, "name": ""},
        {**OPEN_STEP, "name": "Open_Step"},
        {**OPEN_STEP, "name": "__init__"[1:] + "x" * 40},
        {**OPEN_STEP, "name": "open-step"},
        {**OPEN_STEP, "args": {"step": 2}},
        {**OPEN_STEP, "args": "2"},
        {**OPEN_STEP, "args": [0] * (MAX_ARGS + 1)},
    ],
)
def test_malformed_commands_are_refused(command) -> None:
    assert read_command(command) is None


@pytest.mark.parametrize(
    "batch",
    [
        None,
        [],
        {"commands": [OPEN_STEP]},
        {"batch": 1, "commands": [OPEN_STEP]},
        {"batch": "b" * 65, "commands": [OPEN_STEP]},
        {"batch": "b", "commands": []},
        {"batch": "b", "commands": {"0": OPEN_STEP}},
        {"batch": "b", "changes": [OPEN_STEP]},
        {"batch": "b", "commands": [OPEN_STEP] * (MAX_COMMANDS + 1)},
    ],
)
def test_malformed_batches_are_refused(batch) -> None:
    assert read_batch(batch, "commands", MAX_COMMANDS) is None
