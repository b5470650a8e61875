"""The team board through the service: who may send what, and two simultaneous movers of one card."""

from __future__ import annotations

import asyncio

import pytest

from cardsort_app.domain import rules, team
from cardsort_app.domain.events import FACILITATOR_ID
from cardsort_app.service.errors import Forbidden, Rejected
from cardsort_app.service.runtime import Runtime
from tests.service.helpers import drive, new_session


async def _revealed(rt: Runtime):
    created, people = await new_session(rt, "Ann", "Bo")
    for who in people:
        await drive(rt, created.code, who, 4)
        await rt.service.command(created.code, who, lambda s, pid: rules.reveal(s, pid, "top3"))
    return created, people


async def test_only_the_facilitator_opens_and_locks(rt: Runtime) -> None:
    created, (ann, _bo) = await _revealed(rt)
    code = created.code
    with pytest.raises(Forbidden):
        await rt.service.facilitator_command(code, "wrong-key", team.open_board)
    with pytest.raises(Rejected, match="Only the facilitator"):
        await rt.service.command(
            code, ann, lambda s, pid: team.open_board(s).model_copy(update={"participant_id": pid})
        )
    opened = await rt.service.facilitator_command(code, created.facilitator_key, team.open_board)
    assert opened is not None and (await rt.hub.state(code)).team.open
    # The facilitator's tab may send only the facilitator's own events.
    state = await rt.hub.state(code)
    as_ann = team.move(state, ann.participant_id, team.candidates(state)[0][0], "team-values")
    with pytest.raises(Forbidden):
        await rt.service.submit_as_facilitator(code, created.facilitator_key, as_ann)
    mine = team.move(state, FACILITATOR_ID, team.candidates(state)[0][0], "team-values")
    assert await rt.service.submit_as_facilitator(code, created.facilitator_key, mine) is not None
    await rt.service.facilitator_command(code, created.facilitator_key, team.lock_board)
    state = await rt.hub.state(code)
    with pytest.raises(Rejected, match="locked"):
        await rt.service.submit(
            code, ann, team.move(state, ann.participant_id, state.team.values[0], "candidates")
        )


async def test_two_participants_moving_one_card_at_once_exactly_one_wins(rt: Runtime) -> None:
    created, (ann, bo) = await _revealed(rt)
    code = created.code
    await rt.service.facilitator_command(code, created.facilitator_key, team.open_board)
    for _ in range(10):
        view = await rt.hub.state(code)  # both tabs show this
        card = team.candidates(view)[0][0]
        moves = [team.move(view, who.participant_id, card, "team-values") for who in (ann, bo)]
        results = await asyncio.gather(
            *(rt.service.submit(code, who, m) for who, m in zip((ann, bo), moves, strict=True)),
            return_exceptions=True,
        )
        accepted = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(accepted) == 1 and len(refused) == 1, results
        winner = "Ann" if accepted[0].participant_id == ann.participant_id else "Bo"
        assert isinstance(refused[0], Rejected)
        assert str(refused[0]) == f"{winner} moved {team.card_label(view, card)} first"
        state = await rt.hub.state(code)
        assert card in state.team.values
        # Put it back for the next round (a fresh view: no conflict).
        await rt.service.submit(code, ann, team.move(state, ann.participant_id, card, "candidates"))
