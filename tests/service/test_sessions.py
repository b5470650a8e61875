"""SessionService on a real store: creating and joining sessions, and the checks on every submitted event."""

from __future__ import annotations

import logging
import re

import pytest

from cardsort_app.bootstrap import build
from cardsort_app.bus.inprocess import InProcessBus
from cardsort_app.domain import rules
from cardsort_app.domain.decks import deck_names, load_deck
from cardsort_app.domain.events import MAX_EVENT_BYTES, Event, EventType, Pile
from cardsort_app.domain.rules import DomainError
from cardsort_app.service import secrets
from cardsort_app.service import sessions as sessions_module
from cardsort_app.service.errors import Forbidden, Rejected, SessionNotFound
from cardsort_app.service.runtime import Runtime
from cardsort_app.service.sessions import Identity

from .helpers import MINI, check_log, move, new_session, stored_log

CODE_RE = re.compile(r"^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$")


# --- create_session ----------------------------------------------------------------------------------
async def test_create_session_code_key_and_first_event(rt: Runtime) -> None:
    created = await rt.service.create_session("  Team day  ", MINI)
    assert CODE_RE.match(created.code), created.code
    assert len(created.facilitator_key) >= 24

    # the key opens the session, under any spelling of the code; nothing else does
    assert await rt.service.check_facilitator(created.code, created.facilitator_key) == created.code
    assert await rt.service.check_facilitator(f" {created.code.lower()} ", created.facilitator_key) == (
        created.code
    )
    for bad in (None, "", "x", created.facilitator_key + "x", created.facilitator_key.upper()):
        if bad == created.facilitator_key:
            continue
        with pytest.raises(Forbidden):
            await rt.service.check_facilitator(created.code, bad)
    # only the hash is stored
    record = await rt.store.get_session(created.code)
    assert record is not None and created.facilitator_key not in record.facilitator_key_hash

    log = await stored_log(rt, created.code)
    assert [e.type for e in log] == [EventType.SESSION_CREATED]
    assert log[0].payload.card_ids == load_deck(MINI).card_ids
    state = await rt.hub.state(created.code)
    assert (state.title, state.deck, state.version) == ("Team day", MINI, 1)
    assert state == rt.store.sync.load_full(created.code)


async def test_create_session_defaults(rt: Runtime) -> None:
    created = await rt.service.create_session()
    state = await rt.hub.state(created.code)
    assert state.deck == "values" and len(state.card_ids) >= 40
    assert state.title == "Values card sort"
    other = await rt.service.create_session("   ", MINI)
    assert (await rt.hub.state(other.code)).title == "Values card sort"
    assert other.code != created.code


async def test_create_session_unknown_deck_names_the_known_ones(rt: Runtime) -> None:
    with pytest.raises(Rejected) as err:
        await rt.service.create_session("x", "no-such-deck")
    message = str(err.value)
    assert "no-such-deck" in message
    for name in deck_names():
        assert name in message
    assert {"values", MINI} <= set(deck_names())


# --- join --------------------------------------------------------------------------------------------
async def test_join_makes_a_new_participant(rt: Runtime) -> None:
    created, _ = await new_session(rt)
    ann = await rt.service.join(created.code.lower(), "  Ann ")
    assert ann.participant_id.startswith("p_") and len(ann.secret) >= 24
    state = await rt.hub.state(created.code)
    person = state.participants[ann.participant_id]
    assert (person.name, person.step, person.active) == ("Ann", 1, True)
    assert person.pile(Pile.UNSORTED) == state.card_ids
    assert await rt.service.authenticate(created.code, ann) == ann.participant_id
    log = await stored_log(rt, created.code)
    assert [e.type for e in log] == [EventType.SESSION_CREATED, EventType.PARTICIPANT_JOINED]
    assert log[1].participant_id == ann.participant_id

    bo = await rt.service.join(created.code, "Bo")
    assert bo.participant_id != ann.participant_id and bo.secret != ann.secret


async def test_join_again_with_the_same_identity_adds_nothing(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    version = (await rt.hub.state(created.code)).version
    for name in ("Ann", "", "Someone else"):  # a reload, a second tab: the same participant
        assert await rt.service.join(created.code, name, ann) == ann
    state = await rt.hub.state(created.code)
    assert state.version == version
    assert len(state.participants) == 1 and state.participants[ann.participant_id].name == "Ann"
    assert len(await stored_log(rt, created.code)) == version


async def test_rejoin_after_leaving_resumes_the_same_participant(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    await rt.service.leave(created.code, ann)
    assert not (await rt.hub.state(created.code)).participants[ann.participant_id].active
    assert await rt.service.join(created.code, "", ann) == ann  # name kept when none is given
    state = await rt.hub.state(created.code)
    assert state.participants[ann.participant_id].active
    assert state.participants[ann.participant_id].name == "Ann"
    assert len(state.participants) == 1
    check_log(created.code, await stored_log(rt, created.code))


async def test_forged_identity_does_not_authenticate(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    state = await rt.hub.state(created.code)
    forged = Identity(ann.participant_id, secrets.new_secret())
    for identity in (forged, Identity(ann.participant_id, ""), None):
        with pytest.raises(Forbidden):
            await rt.service.authenticate(created.code, identity)
    card = state.card_ids[0]
    move = rules.move_card(state, ann.participant_id, card, Pile.IMPORTANT)
    with pytest.raises(Forbidden):
        await rt.service.submit(created.code, forged, move)
    with pytest.raises(Forbidden):
        await rt.service.command(created.code, forged, lambda s, pid: rules.leave(s, pid))
    with pytest.raises(Forbidden):
        await rt.service.leave(created.code, forged)
    # an identity of another session is not valid here either
    other, (zed,) = await new_session(rt, "Zed")
    with pytest.raises(Forbidden):
        await rt.service.authenticate(created.code, zed)

    # joining with the forged identity never hands over Ann: it makes somebody new ...
    mallory = await rt.service.join(created.code, "Mallory", forged)
    assert mallory.participant_id != ann.participant_id and mallory.secret != forged.secret
    # ... and Ann's name is still hers, and her secret still works
    with pytest.raises(Rejected, match="already taken"):
        await rt.service.join(created.code, "ann", forged)
    after = await rt.hub.state(created.code)
    assert after.participants[ann.participant_id].name == "Ann"
    assert after.participants[ann.participant_id].piles == state.participants[ann.participant_id].piles
    assert await rt.service.authenticate(created.code, ann) == ann.participant_id
    assert await rt.store.participant_token_hash(created.code, ann.participant_id) == secrets.hash_secret(
        ann.secret
    )
    check_log(created.code, await stored_log(rt, created.code))


async def test_join_with_a_taken_name_is_rejected_and_leaves_nothing(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    version = (await rt.hub.state(created.code)).version
    for name in ("Ann", "ann", "  ANN  "):
        with pytest.raises(Rejected, match="already taken"):
            await rt.service.join(created.code, name)
    state = await rt.hub.state(created.code)
    assert state.version == version and list(state.participants) == [ann.participant_id]
    # once Ann has left, the name is free again
    await rt.service.leave(created.code, ann)
    newcomer = await rt.service.join(created.code, "Ann")
    assert newcomer.participant_id != ann.participant_id
    # and Ann cannot come back under it while the newcomer holds it
    with pytest.raises(Rejected, match="already taken"):
        await rt.service.join(created.code, "", ann)
    check_log(created.code, await stored_log(rt, created.code))


@pytest.mark.parametrize("name", ["", "   ", "x" * 41])
async def test_join_needs_a_display_name(rt: Runtime, name: str) -> None:
    created, _ = await new_session(rt)
    with pytest.raises(Rejected, match="display name"):
        await rt.service.join(created.code, name)
    assert (await rt.hub.state(created.code)).participants == {}


@pytest.mark.parametrize("code", ["ZZZZZZ", "", "  ", "no such"])
async def test_unknown_code(rt: Runtime, code: str) -> None:
    with pytest.raises(SessionNotFound) as err:
        await rt.service.join(code, "Ann")
    assert err.value.status == 404
    with pytest.raises(SessionNotFound):
        await rt.service.require_session(code)
    with pytest.raises(SessionNotFound):
        await rt.service.check_facilitator(code, "key")
    with pytest.raises(SessionNotFound):
        await rt.service.reveal_all(code, "key")
    with pytest.raises(Forbidden):  # nobody holds an identity in a session that does not exist
        await rt.service.authenticate(code, Identity("p_x", "secret"))


# --- submit ------------------------------------------------------------------------------------------
async def test_submit_accepts_an_event_object_or_its_wire_dict(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    state = await rt.hub.state(created.code)
    first, second = state.card_ids[:2]
    e1 = rules.move_card(state, ann.participant_id, first, Pile.IMPORTANT)
    stored = await rt.service.submit(created.code, ann, e1)
    assert stored is not None and stored.seq == state.version + 1 and stored.id == e1.id
    e2 = rules.move_card(state, ann.participant_id, second, Pile.NOT_IMPORTANT)
    wire = e2.to_wire()
    assert "cardId" in wire["payload"] and "seq" not in wire
    stored2 = await rt.service.submit(created.code.lower(), ann, wire)
    assert stored2 is not None and stored2.seq == state.version + 2
    person = (await rt.hub.state(created.code)).participants[ann.participant_id]
    assert person.pile(Pile.IMPORTANT) == (first,) and person.pile(Pile.NOT_IMPORTANT) == (second,)
    check_log(created.code, await stored_log(rt, created.code))


async def test_submit_of_someone_elses_event_is_forbidden(rt: Runtime) -> None:
    created, (ann, bo) = await new_session(rt, "Ann", "Bo")
    other, _ = await new_session(rt)
    state = await rt.hub.state(created.code)
    card = state.card_ids[0]
    before = len(await stored_log(rt, created.code))

    bos_move = rules.move_card(state, bo.participant_id, card, Pile.IMPORTANT)
    with pytest.raises(Forbidden):
        await rt.service.submit(created.code, ann, bos_move)  # Ann's proof, Bo's event
    with pytest.raises(Forbidden):
        await rt.service.submit(created.code, ann, bos_move.to_wire())
    # Ann's own event, addressed to another session
    elsewhere = rules.move_card(state, ann.participant_id, card, Pile.IMPORTANT)
    elsewhere = elsewhere.model_copy(update={"session_code": other.code})
    with pytest.raises(Forbidden):
        await rt.service.submit(created.code, ann, elsewhere)
    # Ann's event submitted under the other session's code: she is nobody there
    with pytest.raises(Forbidden):
        await rt.service.submit(other.code, ann, elsewhere)

    assert len(await stored_log(rt, created.code)) == before
    assert len(await stored_log(rt, other.code)) == 1
    assert (await rt.hub.state(created.code)).participants[bo.participant_id].pile_of(card) == Pile.UNSORTED


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (lambda w: {**w, "type": "CARD_FLIPPED"}, "unknown event type 'CARD_FLIPPED'"),
        (lambda w: {k: v for k, v in w.items() if k != "type"}, "type: missing event type"),
        (lambda w: {**w, "payload": {**w["payload"], "toPile": "bin"}}, "payload.toPile"),
        (lambda w: {**w, "payload": {**w["payload"], "position": "3"}}, "payload.position"),
        (
            lambda w: {**w, "payload": {k: v for k, v in w["payload"].items() if k != "cardId"}},
            "payload.cardId: Field required",
        ),
        (lambda w: {**w, "isAdmin": True}, "isAdmin: Extra inputs are not permitted"),
        (lambda w: {**w, "sessionCode": "lower-case!"}, "sessionCode"),
        (lambda w: {**w, "timestamp": -1}, "timestamp"),
        (lambda w: [w], "expected a JSON object"),
    ],
    ids=["type", "no-type", "pile", "position", "no-card", "extra", "code", "timestamp", "list"],
)
async def test_malformed_event_is_rejected_with_a_clear_message(rt: Runtime, mangle, expected: str) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    state = await rt.hub.state(created.code)
    wire = rules.move_card(state, ann.participant_id, state.card_ids[0], Pile.IMPORTANT).to_wire()
    with pytest.raises(Rejected) as err:
        await rt.service.submit(created.code, ann, mangle(wire))
    assert str(err.value).startswith("Invalid event: ")
    assert expected in str(err.value)
    assert err.value.status == 409
    assert (await rt.hub.state(created.code)).version == state.version
    assert len(await stored_log(rt, created.code)) == state.version


async def test_oversize_event_is_rejected(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    state = await rt.hub.state(created.code)
    wire = rules.move_card(state, ann.participant_id, state.card_ids[0], Pile.IMPORTANT).to_wire()
    for big in (
        {**wire, "payload": {**wire["payload"], "cardId": "c" * (MAX_EVENT_BYTES + 1)}},
        {**wire, "padding": "x" * (MAX_EVENT_BYTES + 1)},
    ):
        with pytest.raises(Rejected, match=f"{MAX_EVENT_BYTES}-byte limit"):
            await rt.service.submit(created.code, ann, big)
    # a too-long field under the size cap is refused by its own constraint
    with pytest.raises(Rejected, match="payload.cardId"):
        await rt.service.submit(
            created.code, ann, {**wire, "payload": {**wire["payload"], "cardId": "c" * 65}}
        )
    assert len(await stored_log(rt, created.code)) == state.version


async def test_impossible_move_is_rejected_with_the_rules_message(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    state = await rt.hub.state(created.code)
    pid = ann.participant_id
    card = state.card_ids[0]
    impossible = [
        rules.move_card(state, pid, card, Pile.IMPORTANT, from_pile=Pile.NOT_IMPORTANT),  # not there
        rules.move_card(state, pid, card, Pile.TOP8),  # step 1 has no top 8
        rules.move_card(state, pid, "no-such-card", Pile.IMPORTANT),
        rules.move_card(state, pid, card, Pile.UNSORTED),  # already there
        rules.transition(state, pid, +1),  # cards still unsorted
        rules.reveal(state, pid, "top8"),
    ]
    for event in impossible:
        with pytest.raises(DomainError) as expected:
            rules.check(state, event)
        with pytest.raises(Rejected) as err:
            await rt.service.submit(created.code, ann, event)
        assert str(err.value) == str(expected.value)
        after = await rt.hub.state(created.code)
        assert after == state
    assert len(await stored_log(rt, created.code)) == state.version
    assert await rt.store.find_event(impossible[0].id) is None


async def test_same_event_twice_is_stored_once(rt: Runtime) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    state = await rt.hub.state(created.code)
    pid, card = ann.participant_id, state.card_ids[0]
    e1 = rules.move_card(state, pid, card, Pile.IMPORTANT)
    first = await rt.service.submit(created.code, ann, e1)
    assert first is not None

    # an immediate retry (the acknowledgement was lost)
    again = await rt.service.submit(created.code, ann, e1.to_wire())
    assert again == first

    # later events make the retried one invalid (the card left "unsorted") ...
    s = await rt.hub.state(created.code)
    await rt.service.submit(created.code, ann, rules.move_card(s, pid, card, Pile.NOT_IMPORTANT))
    await rt.service.submit(created.code, ann, rules.move_card(s, pid, s.card_ids[1], Pile.IMPORTANT))
    with pytest.raises(DomainError):
        rules.check(await rt.hub.state(created.code), e1)
    late = await rt.service.submit(created.code, ann, e1)
    assert late == first

    # ... or valid again (the card went back to "unsorted"): still the stored one, not a second row
    s = await rt.hub.state(created.code)
    await rt.service.submit(created.code, ann, rules.move_card(s, pid, card, Pile.UNSORTED))
    version = (await rt.hub.state(created.code)).version
    rules.check(await rt.hub.state(created.code), e1)
    assert await rt.service.submit(created.code, ann, e1) == first
    assert (await rt.hub.state(created.code)).version == version

    log = await stored_log(rt, created.code)
    assert [e.id for e in log].count(e1.id) == 1
    assert len(log) == version
    check_log(created.code, log)
    assert await rt.hub.state(created.code) == rt.store.sync.load_full(created.code)


async def test_event_id_of_another_session_is_rejected(rt: Runtime) -> None:
    """Event ids are global dedup keys: reusing one stored in another session must be refused as a
    client error, never crash the service with a store exception."""
    a, (ann,) = await new_session(rt, "Ann")
    b, (bo,) = await new_session(rt, "Bo")
    sa_ = await rt.hub.state(a.code)
    sb = await rt.hub.state(b.code)
    move = rules.move_card(sa_, ann.participant_id, sa_.card_ids[0], Pile.IMPORTANT)
    stored = await rt.service.submit(a.code, ann, move)
    assert stored is not None
    stolen = rules.move_card(sb, bo.participant_id, sb.card_ids[0], Pile.IMPORTANT).model_copy(
        update={"id": stored.id}
    )
    with pytest.raises(Rejected):
        await rt.service.submit(b.code, bo, stolen)
    assert (await rt.hub.state(b.code)).version == sb.version
    assert len(await stored_log(rt, b.code)) == sb.version
    assert (await rt.hub.state(b.code)) == rt.store.sync.load_full(b.code)


async def test_event_id_of_another_participant_is_rejected(rt: Runtime) -> None:
    """Reusing the id of somebody else's stored event must not be acknowledged with *their* event."""
    created, (ann, bo) = await new_session(rt, "Ann", "Bo")
    s = await rt.hub.state(created.code)
    anns = await rt.service.submit(
        created.code, ann, rules.move_card(s, ann.participant_id, s.card_ids[0], "important")
    )
    assert anns is not None
    s = await rt.hub.state(created.code)
    bos_valid = rules.move_card(s, bo.participant_id, s.card_ids[0], Pile.IMPORTANT)
    bos_invalid = rules.move_card(s, bo.participant_id, s.card_ids[0], Pile.IMPORTANT, from_pile="top8")
    for event in (bos_valid, bos_invalid):
        with pytest.raises(Rejected):
            await rt.service.submit(created.code, bo, event.model_copy(update={"id": anns.id}))
    # an invalid event carrying the id of an event of another session gets the rule's answer, not that event
    other, (zed,) = await new_session(rt, "Zed")
    with pytest.raises(Rejected, match="not a pile|In step 1"):
        await rt.service.submit(
            created.code, bo, bos_invalid.model_copy(update={"id": (await stored_log(rt, other.code))[0].id})
        )
    assert (await rt.hub.state(created.code)) == s
    assert len(await stored_log(rt, created.code)) == s.version


class _BrokenBus(InProcessBus):
    """A bus whose publish always fails (a network outage): delivers nothing, raises every time."""

    async def publish(self, event: Event) -> None:
        raise ConnectionError("bus down")


async def test_a_failing_bus_loses_nothing(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The log is the truth: a publish failure is logged, the command still succeeds and the local
    projection has it; another worker catches up from the log."""
    rt = build(db_url, bus=_BrokenBus())
    try:
        created, (ann,) = await new_session(rt, "Ann")
        state = await rt.hub.state(created.code)
        with caplog.at_level(logging.ERROR):
            stored = await move(rt, created.code, ann, state.card_ids[0], Pile.IMPORTANT)
        assert stored is not None and "publish of" in caplog.text
        assert (await rt.hub.state(created.code)).version == stored.seq
        other = build(db_url)
        try:
            assert await other.hub.catch_up(created.code) == rt.store.sync.load_full(created.code)
        finally:
            await other.close()
    finally:
        await rt.close()


async def test_the_identity_cache_stays_bounded_and_an_evicted_identity_still_authenticates(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service caches token hashes (a read cache of the log): thousands of abandoned sessions must not
    grow it without end, and an identity it let go of is checked against the log again."""
    monkeypatch.setattr(sessions_module, "MAX_CACHED", 3)
    created, people = await new_session(rt, "Ann", "Bo", "Cy", "Di", "Ed")
    assert len(rt.service._token_hashes) <= 3
    for person in people:  # the first ones were evicted: read back from the log
        assert await rt.service.authenticate(created.code, person) == person.participant_id
        with pytest.raises(Forbidden):
            await rt.service.authenticate(created.code, Identity(person.participant_id, secrets.new_secret()))
    assert len(rt.service._token_hashes) <= 3
