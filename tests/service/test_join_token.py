"""A join sent again after its answer was lost: the browser's join token makes it the same participant.

The browser stores a token of its own before its first join to a session is sent (ui/cardsort_join.jsx)
and sends it with every join; the participant is derived from it, so a repeat resumes the participant the
first copy made: on this worker or another one, with no second participant and no second join event.
"""

from __future__ import annotations

import asyncio
import secrets as stdlib_secrets

import pytest

from cardsort_app.domain import facilitation, rules
from cardsort_app.domain.events import EventType
from cardsort_app.service import secrets
from cardsort_app.service.errors import Rejected
from cardsort_app.service.limits import LimitExceeded, Limits, LimitSettings
from cardsort_app.service.runtime import Runtime
from cardsort_app.service.sessions import MALFORMED_JOIN_TOKEN, Identity

from .helpers import check_log, new_session, stored_log


def _token() -> str:
    return stdlib_secrets.token_hex(16)  # what the browser makes: 128 random bits, 32 hex digits


async def _joins(rt: Runtime, code: str) -> list[str]:
    return [e.participant_id for e in await stored_log(rt, code) if e.type == EventType.PARTICIPANT_JOINED]


async def test_the_same_token_twice_is_the_same_participant_joined_once(rt: Runtime) -> None:
    created, _ = await new_session(rt)
    token = _token()
    first = await rt.service.join(created.code, "Noa", token=token)
    assert first == Identity(secrets.participant_id_for(created.code, token), token)
    # The answer was lost: the browser knows only its token, and sends the join again (any spelling of
    # the code, the name typed again or not).
    for name in ("Noa", " noa ", "Noa"):
        assert await rt.service.join(created.code.lower(), name, token=token) == first
    assert await rt.service.join(created.code, "Noa", None, token=token) == first
    assert await _joins(rt, created.code) == [first.participant_id]
    state = check_log(created.code, await stored_log(rt, created.code))
    assert [p.name for p in state.active_participants] == ["Noa"]
    # Only the token's hash is stored; the token proves the identity like any secret.
    stored = await rt.store.participant_token_hash(created.code, first.participant_id)
    assert stored == secrets.hash_secret(token) and token not in stored
    assert await rt.service.authenticate(created.code, first) == first.participant_id


async def test_a_repeat_sent_to_another_worker_or_at_once_is_one_participant(
    rt: Runtime, second_worker: Runtime
) -> None:
    """Two workers share the log: a repeat of the join that reaches another worker (or races the first
    copy) resumes the same participant."""
    created, _ = await new_session(rt)
    token = _token()
    joined = await asyncio.gather(
        *(w.service.join(created.code, "Sam", token=token) for w in (rt, second_worker, rt, second_worker))
    )
    assert len(set(joined)) == 1
    assert await _joins(rt, created.code) == [joined[0].participant_id]
    later = await second_worker.service.join(created.code, "Sam", token=token)
    assert later == joined[0]
    check_log(created.code, await stored_log(rt, created.code))


async def test_another_token_with_a_taken_name_is_refused_and_leaves_nothing(rt: Runtime) -> None:
    created, _ = await new_session(rt)
    ann = await rt.service.join(created.code, "Ann", token=_token())
    other = _token()
    with pytest.raises(Rejected, match="The name 'ann' is already taken in this session"):
        await rt.service.join(created.code, "ann", token=other)
    pid = secrets.participant_id_for(created.code, other)
    assert await rt.store.participant_token_hash(created.code, pid) is None
    assert await _joins(rt, created.code) == [ann.participant_id]
    # Refused before anything was registered: the same token then joins under another name.
    bo = await rt.service.join(created.code, "Bo", token=other)
    assert bo.participant_id == pid
    assert await _joins(rt, created.code) == [ann.participant_id, pid]


async def test_a_token_is_one_participant_per_session(rt: Runtime) -> None:
    first, _ = await new_session(rt)
    second, _ = await new_session(rt)
    token = _token()
    a = await rt.service.join(first.code, "Kim", token=token)
    b = await rt.service.join(second.code, "Kim", token=token)
    assert a.participant_id != b.participant_id  # the public ids do not link one browser's sessions


async def test_the_first_join_s_name_stays_when_a_repeat_names_someone_else(rt: Runtime) -> None:
    """A repeat is the same join: it resumes, it does not rename (nor take a second name)."""
    created, _ = await new_session(rt)
    token = _token()
    noa = await rt.service.join(created.code, "Noa", token=token)
    assert await rt.service.join(created.code, "Noah", token=token) == noa
    state = await rt.hub.state(created.code)
    assert [p.name for p in state.active_participants] == ["Noa"]


async def test_a_held_identity_wins_over_the_token(rt: Runtime) -> None:
    """A browser that got the answer sends its stored identity (and its token): that identity resumes."""
    created, (ann,) = await new_session(rt, "Ann")
    assert await rt.service.join(created.code, "", ann, token=_token()) == ann
    assert len(await _joins(rt, created.code)) == 1


@pytest.mark.parametrize(
    "token",
    [
        "",
        "short",
        "a" * 31,  # under 128 bits' worth of characters
        "a" * 65,
        "g" * 31 + "!",
        "a" * 31 + " ",
        "a" * 16 + "/" + "a" * 16,
        "a" * 31 + "\u00e9",
        "ａ" * 32,  # fullwidth letters: not the token's alphabet
    ],
)
async def test_a_malformed_token_is_refused_and_changes_nothing(rt: Runtime, token: str) -> None:
    rt.service.limits = Limits(LimitSettings(joins_per_client_per_minute=1))
    created, _ = await new_session(rt)
    before = await stored_log(rt, created.code)
    with pytest.raises(Rejected) as refused:
        await rt.service.join(created.code, "Ann", client="192.0.2.9", token=token)
    assert str(refused.value) == MALFORMED_JOIN_TOKEN
    assert await stored_log(rt, created.code) == before
    # Not even a join attempt was counted: the client's one join of the minute is still there.
    await rt.service.join(created.code, "Ann", client="192.0.2.9", token=_token())


async def test_a_repeat_is_not_a_new_join_for_the_limits(rt: Runtime) -> None:
    """A join sent again resumes: it counts neither as a join attempt nor against the session's cap."""
    rt.service.limits = Limits(LimitSettings(joins_per_client_per_minute=2, participants_per_session=2))
    created, _ = await new_session(rt)
    token = _token()
    first = await rt.service.join(created.code, "Ann", client="192.0.2.10", token=token)
    await rt.service.join(created.code, "Bo", client="192.0.2.10", token=_token())  # the session is full
    for _ in range(3):
        assert await rt.service.join(created.code, "Ann", client="192.0.2.10", token=token) == first
    with pytest.raises(LimitExceeded):
        await rt.service.join(created.code, "Cy", client="192.0.2.10", token=_token())
    with pytest.raises(Rejected, match="full"):
        await rt.service.join(created.code, "Cy", client="192.0.2.11", token=_token())


async def test_a_participant_id_registered_under_another_token_is_never_handed_over(rt: Runtime) -> None:
    """Were another token's id ever the same (it is a hash: it cannot be chosen), the join is refused."""
    created, _ = await new_session(rt)
    token = _token()
    pid = secrets.participant_id_for(created.code, token)
    await rt.store.add_participant(created.code, pid, secrets.hash_secret("somebody else's secret"))
    with pytest.raises(Rejected, match="malformed"):
        await rt.service.join(created.code, "Eve", token=token)
    assert await _joins(rt, created.code) == []


async def test_after_leave_and_erase_the_next_join_from_that_browser_is_someone_new(rt: Runtime) -> None:
    """`Leave and erase my name` ends that identity: on a shared device (a classroom tablet) whoever joins
    next, with the identity and the token the browser still holds, is a new participant, and never sees
    the erased person's sort."""
    created, _ = await new_session(rt)
    token = _token()
    ola = await rt.service.join(created.code, "Ola", token=token)
    card = (await rt.hub.state(created.code)).card_ids[0]
    await rt.service.command(created.code, ola, lambda s, pid: rules.move_card(s, pid, card, "important"))
    await rt.service.command(created.code, ola, facilitation.erase)

    pim = await rt.service.join(created.code, "Pim", ola, token=token)  # what that browser still holds
    assert pim.participant_id != ola.participant_id and pim.secret not in (ola.secret, token)
    state = check_log(created.code, await stored_log(rt, created.code))
    assert [p.name for p in state.active_participants] == ["Pim"]
    assert state.participant(pim.participant_id).pile("unsorted") == state.card_ids  # a fresh sort
    erased = state.participant(ola.participant_id)
    assert not erased.active and erased.name == "" and erased.pile("important") == (card,)
    assert await rt.service.join(created.code, "", pim) == pim  # Pim resumes as Pim
    # The browser forgets its token on erase (cardsort_offline.jsx): its next one joins idempotently again.
    fresh = _token()
    cy = await rt.service.join(created.code, "Cy", ola, token=fresh)
    assert cy.participant_id == secrets.participant_id_for(created.code, fresh)
    assert await rt.service.join(created.code, "Cy", None, token=fresh) == cy
    assert sorted(p.name for p in (await rt.hub.state(created.code)).active_participants) == ["Cy", "Pim"]
