"""reveal_all: the facilitator reveals every selection that can be revealed, once."""

from __future__ import annotations

import pytest

from cardsort_app.domain import rules
from cardsort_app.domain.events import EventType, RevealType
from cardsort_app.service.errors import Forbidden
from cardsort_app.service.runtime import Runtime

from .helpers import check_log, drive, new_session, step, stored_log


async def test_reveal_all_reveals_only_what_can_be_revealed(rt: Runtime) -> None:
    created, (ann, bo, cleo, dev, eve) = await new_session(rt, "Ann", "Bo", "Cleo", "Dev", "Eve")
    code, key = created.code, created.facilitator_key
    await drive(rt, code, ann, 4)  # top 8 and top 3 can be revealed
    await drive(rt, code, bo, 3)  # only the top 8
    await drive(rt, code, cleo, 2)  # nothing yet
    await drive(rt, code, dev, 4)
    await rt.service.command(code, dev, lambda s, pid: rules.reveal(s, pid, RevealType.TOP8))  # her own
    await drive(rt, code, eve, 4)
    await rt.service.leave(code, eve)  # gone: nothing is revealed for her
    before = await rt.hub.state(code)

    with pytest.raises(Forbidden):
        await rt.service.reveal_all(code, "not-the-key")
    assert (await rt.hub.state(code)).version == before.version

    made = await rt.service.reveal_all(code.lower(), key)
    assert [(e.participant_id, e.payload.reveal_type) for e in made] == [
        (ann.participant_id, RevealType.TOP8),
        (ann.participant_id, RevealType.TOP3),
        (bo.participant_id, RevealType.TOP8),
        (dev.participant_id, RevealType.TOP3),
    ]
    assert all(e.type == EventType.SELECTION_REVEALED for e in made)
    assert [e.seq for e in made] == list(range(before.version + 1, before.version + 5))
    state = await rt.hub.state(code)
    for e in made:
        person = before.participants[e.participant_id]
        assert sorted(e.payload.cards) == sorted(person.selection(e.payload.reveal_type))
        assert state.reveal_of(e.participant_id, e.payload.reveal_type).seq == e.seq
    assert len(state.reveals) == 5  # Dev's own top 8 was kept, not repeated
    assert state.reveal_of(dev.participant_id, RevealType.TOP8) == before.reveal_of(
        dev.participant_id, "top8"
    )
    assert state.reveal_of(cleo.participant_id, "top8") is None
    assert state.reveal_of(eve.participant_id, "top8") is None

    # a second call has nothing left to do
    assert await rt.service.reveal_all(code, key) == []
    assert (await rt.hub.state(code)).version == state.version

    # Bo finishes: now (only) his top 3 is new
    await drive(rt, code, bo, 4)
    again = await rt.service.reveal_all(code, key)
    assert [(e.participant_id, e.payload.reveal_type) for e in again] == [
        (bo.participant_id, RevealType.TOP3)
    ]

    # going back withdraws a reveal; reveal_all then shows the (new) selection again once it is complete
    await step(rt, code, ann, -1)
    after_back = await rt.hub.state(code)
    assert after_back.reveal_of(ann.participant_id, "top3") is None
    assert after_back.reveal_of(ann.participant_id, "top8") is not None
    assert await rt.service.reveal_all(code, key) == []  # her top 3 is open for editing
    await step(rt, code, ann, +1)
    assert [e.payload.reveal_type for e in await rt.service.reveal_all(code, key)] == [RevealType.TOP3]

    log = await stored_log(rt, code)
    assert check_log(code, log) == await rt.hub.state(code) == rt.store.sync.load_full(code)


async def test_reveal_all_on_an_empty_session(rt: Runtime) -> None:
    created, _ = await new_session(rt)
    assert await rt.service.reveal_all(created.code, created.facilitator_key) == []
    assert (await rt.hub.state(created.code)).version == 1
