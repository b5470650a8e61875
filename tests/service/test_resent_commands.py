"""The server side of clicks resent until acknowledged (ui/resend.py, the board's change queue): a command
sent again under its id, on the same worker or another, after its answer was lost or after a reload,
changes nothing; the id is the dedup key of the one event it writes (or the base of its events' ids)."""

from __future__ import annotations

import uuid
from collections import Counter

from cardsort_app.domain import facilitation, rules, team
from cardsort_app.domain.events import FACILITATOR_ID, EventType
from cardsort_app.service.runtime import Runtime
from cardsort_app.service.sessions import derived_id
from cardsort_app.service.workshop import Workshop
from tests.service.helpers import check_log, drive, new_session, stored_log


def _ids(*names: str) -> dict[str, str]:
    return {name: str(uuid.uuid4()) for name in names}


async def test_facilitator_commands_sent_again_under_their_ids_are_stored_once(
    rt: Runtime, second_worker: Runtime
) -> None:
    created = await rt.service.create_session("Resend", "values-mini", pacing="facilitator")
    code, key = created.code, created.facilitator_key
    ids = _ids("open", "start", "minute", "stop", "team_open", "team_lock", "end")

    async def click_everything(worker: Runtime) -> None:
        shop = Workshop(worker.service)
        await shop.open_step(code, key, 2, event_id=ids["open"])
        await shop.start_timer(code, key, 5, event_id=ids["start"])
        await shop.add_minute(code, key, event_id=ids["minute"])
        await shop.stop_timer(code, key, event_id=ids["stop"])
        await worker.service.facilitator_command(code, key, team.open_board, event_id=ids["team_open"])
        await worker.service.facilitator_command(code, key, team.lock_board, event_id=ids["team_lock"])
        await shop.end_session(code, key, event_id=ids["end"])

    await click_everything(rt)
    first = await stored_log(rt, code)
    await click_everything(rt)  # every answer was lost: all sent again, to the same worker
    await click_everything(second_worker)  # and again after a reconnect served by another worker
    log = await stored_log(rt, code)
    assert log == first
    types = Counter(e.type for e in log)
    for kind in (
        EventType.STEP_OPENED,
        EventType.TIMER_STARTED,
        EventType.TIMER_EXTENDED,
        EventType.TIMER_STOPPED,
        EventType.TEAM_BOARD_OPENED,
        EventType.TEAM_BOARD_LOCKED,
        EventType.SESSION_ENDED,
    ):
        assert types[kind] == 1, kind
    assert {e.id for e in log[1:] if e.participant_id == FACILITATOR_ID} == set(ids.values())  # after CREATED
    check_log(code, log)


async def test_a_minute_added_twice_under_one_id_while_the_timer_still_runs_is_added_once(
    rt: Runtime,
) -> None:
    """Without the id a repeat would be a valid second extension: the log's dedupe is what stops it."""
    created = await rt.service.create_session("Resend", "values-mini")
    code, key = created.code, created.facilitator_key
    shop = Workshop(rt.service, clock=lambda: 1_000_000)
    await shop.start_timer(code, key, 5)
    minute = str(uuid.uuid4())
    first = await shop.add_minute(code, key, event_id=minute)
    again = await shop.add_minute(code, key, event_id=minute)
    assert first is not None and again is not None and again.seq == first.seq
    state = await rt.hub.state(code)
    assert state.timer_seconds == 6 * 60
    await shop.add_minute(code, key)  # a new click (a new id) is a new minute
    assert (await rt.hub.state(code)).timer_seconds == 7 * 60


async def test_landed_names_only_the_senders_own_event_in_its_own_session(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    other, _ = await new_session(rt, "Bo")
    code, key = created.code, created.facilitator_key
    opened = str(uuid.uuid4())
    await rt.service.facilitator_command(code, key, team.open_board, event_id=opened)
    assert await rt.service.landed(code, opened, FACILITATOR_ID)
    assert await rt.service.landed(code.lower(), opened, FACILITATOR_ID)
    assert not await rt.service.landed(code, opened, ann.participant_id)  # not Ann's
    assert not await rt.service.landed(other.code, opened, FACILITATOR_ID)  # not that session's
    assert not await rt.service.landed(code, str(uuid.uuid4()), FACILITATOR_ID)


async def test_reveal_all_sent_again_reveals_nothing_more(rt: Runtime) -> None:
    created, (ann, bo) = await new_session(rt, "Ann", "Bo")
    code, key = created.code, created.facilitator_key
    await drive(rt, code, ann, 4)
    await drive(rt, code, bo, 3)
    command = str(uuid.uuid4())
    made = await rt.service.reveal_all(code, key, event_id=command)
    assert {e.id for e in made} == {
        derived_id(command, f"{ann.participant_id}:top8"),
        derived_id(command, f"{ann.participant_id}:top3"),
        derived_id(command, f"{bo.participant_id}:top8"),
    }
    assert await rt.service.reveal_all(code, key, event_id=command) == []
    assert [e.type for e in await stored_log(rt, code)].count(EventType.SELECTION_REVEALED) == 3


async def test_a_leave_sent_again_after_rejoining_leaves_nobody_twice(rt: Runtime) -> None:
    """The board's queue sends a leave until acknowledged; if the acknowledgement was lost and the person
    came back meanwhile, the late copy must not make them leave again."""
    created, (ann,) = await new_session(rt, "Ann")
    code = created.code
    state = await rt.hub.state(code)
    leave = rules.leave(state, ann.participant_id).model_copy(update={"id": str(uuid.uuid4())})
    await rt.service.submit(code, ann, leave)
    assert not (await rt.hub.state(code)).participant(ann.participant_id).active
    await rt.service.submit(code, ann, leave)  # the answer was lost: sent again
    await rt.service.join(code, "", ann)  # back on the board (a reload re-activates)
    await rt.service.submit(code, ann, leave)  # a copy still queued: already stored, nothing happens
    assert (await rt.hub.state(code)).participant(ann.participant_id).active
    types = [e.type for e in await stored_log(rt, code)]
    assert types.count(EventType.PARTICIPANT_LEFT) == 1 and types.count(EventType.PARTICIPANT_JOINED) == 2

    erase = facilitation.erase(await rt.hub.state(code), ann.participant_id).model_copy(
        update={"id": str(uuid.uuid4())}
    )
    await rt.service.submit(code, ann, erase)
    await rt.service.submit(code, ann, erase)
    assert [e.type for e in await stored_log(rt, code)].count(EventType.PARTICIPANT_ERASED) == 1


async def test_a_team_move_sent_again_is_stored_once(rt: Runtime) -> None:
    created, people = await new_session(rt, "Ann", "Bo")
    code, key = created.code, created.facilitator_key
    for who in people:
        await drive(rt, code, who, 4)
        await rt.service.command(code, who, lambda s, pid: rules.reveal(s, pid, "top3"))
    await rt.service.facilitator_command(code, key, team.open_board)
    state = await rt.hub.state(code)
    card = team.candidates(state)[0][0]
    move = team.move(state, people[0].participant_id, card, "team-values")
    stored = await rt.service.submit(code, people[0], move)
    assert await rt.service.submit(code, people[0], move) == stored  # idempotent: the stored event
    assert [e.type for e in await stored_log(rt, code)].count(EventType.TEAM_CARD_MOVED) == 1
    assert await rt.service.landed(code, move.id, people[0].participant_id)
