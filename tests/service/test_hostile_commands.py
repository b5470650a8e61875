"""Hostile command sequences against SessionService on a real database (SQLite and PostgreSQL).

Hypothesis draws sequences of joins (with hostile Unicode names), moves (real and made-up cards and piles,
stale `from` piles), step changes with any shown step, reveals, leaves, forged events (somebody else's
id), raw malformed event objects and facilitator actions with right and wrong keys. Every command either
lands or is refused with a ServiceError; afterwards the log is gapless and valid event by event, and the
live projection equals the replay of the log, and so does a fresh load from the store.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardsort_app.bus.inprocess import InProcessBus
from cardsort_app.domain import rules
from cardsort_app.domain.reducer import replay
from cardsort_app.domain.state import PILES
from cardsort_app.service.errors import ServiceError
from cardsort_app.service.hub import SessionHub
from cardsort_app.service.limits import Limits, LimitSettings
from cardsort_app.service.relay import OutboxRelay
from cardsort_app.service.sessions import Identity, SessionService
from cardsort_app.store.async_store import AsyncStore
from cardsort_app.store.eventstore import EventStore
from tests.service.helpers import check_log

HOSTILE_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from("\u200b\u202e\u2066\x00\u0301 \tAaBb"), st.characters(codec="utf-8")),
    max_size=50,
)
PILE_NAMES = st.one_of(st.sampled_from(PILES), st.sampled_from(["", "trash", "TOP8", "top9"]))
WHO = st.integers(0, 5)  # an index into the participants so far (wrapped), or nobody

commands = st.lists(
    st.one_of(
        st.tuples(
            st.just("join"), st.one_of(HOSTILE_TEXT, st.sampled_from(["Ann", "ann", "Ａnn", "Bo", "Cy"]))
        ),
        st.tuples(st.just("move"), WHO, st.one_of(st.integers(0, 15), HOSTILE_TEXT), PILE_NAMES, PILE_NAMES),
        st.tuples(st.just("step"), WHO, st.sampled_from([1, -1])),
        st.tuples(st.just("reveal"), WHO, st.sampled_from(["top8", "top3", "top5", ""])),
        st.tuples(st.just("leave"), WHO),
        st.tuples(st.just("forge"), WHO, WHO),
        st.tuples(
            st.just("raw"),
            WHO,
            st.dictionaries(
                st.sampled_from(["id", "type", "sessionCode", "participantId", "payload", "version", "x"]),
                st.one_of(
                    st.none(), st.integers(), HOSTILE_TEXT, st.dictionaries(HOSTILE_TEXT, st.integers())
                ),
            ),
        ),
        st.tuples(st.just("reveal_all"), st.booleans()),
        st.tuples(st.just("sort_all"), WHO),  # a burst of valid moves, so later steps can go further
    ),
    max_size=40,
)


@pytest.fixture(scope="module")
def store(db_url: str) -> Iterator[AsyncStore]:
    sync = EventStore(db_url, snapshot_every=5)  # small: loading exercises snapshot + tail
    yield AsyncStore(sync)
    sync.dispose()


def _service(store: AsyncStore) -> SessionService:
    bus = InProcessBus()
    limits = Limits(LimitSettings(commands_per_second=1e6, command_burst=1e6))
    return SessionService(store, bus, SessionHub(store, bus), OutboxRelay(store, bus), limits)


async def _run(store: AsyncStore, script: list[tuple]) -> None:
    service = _service(store)
    created = await service.create_session("Hostile", "values-mini")
    code, key = created.code, created.facilitator_key
    people: list[Identity] = []
    landed = refused = 0

    def who(i: int) -> Identity | None:
        return people[i % len(people)] if people else None

    for command in script:
        kind = command[0]
        state = await service.hub.state(code)
        try:
            if kind == "join":
                people.append(await service.join(code, command[1]))
            elif kind == "reveal_all":
                await service.reveal_all(code, key if command[1] else key + "x")
            elif (me := who(command[1])) is None:
                continue
            elif kind == "move":
                _, _, card, to, frm = command
                card_id = state.card_ids[card % len(state.card_ids)] if isinstance(card, int) else card
                await service.command(
                    code,
                    me,
                    lambda s, pid, c=card_id, t=to, f=frm: rules.move_card(s, pid, c, t, from_pile=f),
                )
            elif kind == "step":
                await service.command(code, me, lambda s, pid, d=command[2]: rules.transition(s, pid, d))
            elif kind == "reveal":
                await service.command(code, me, lambda s, pid, t=command[2]: rules.reveal(s, pid, t))
            elif kind == "leave":
                await service.leave(code, me)
            elif kind == "forge":
                victim = who(command[2])
                forged = rules.leave(state, victim.participant_id) if victim else None
                if forged is not None:
                    await service.submit(code, me, forged)  # my secret, somebody else's event
            elif kind == "raw":
                await service.submit(code, me, dict(command[2]))
            elif kind == "sort_all":
                person = state.participant(me.participant_id)
                for card_id in person.pile("unsorted") if person else ():
                    await service.command(
                        code, me, lambda s, pid, c=card_id: rules.move_card(s, pid, c, "very-important")
                    )
            landed += 1
        except ServiceError:
            refused += 1
        except rules.DomainError:  # a builder refusing before the service sees the event
            refused += 1
    log = await store.events_after(code, 0)
    final = check_log(code, log)  # gapless, unique ids, every event valid against the state before it
    assert await service.hub.state(code) == final == replay(log)
    fresh = SessionHub(store, InProcessBus())
    assert await fresh.state(code) == final  # snapshot + tail from the store agrees
    for person in final.participants.values():
        assert rules.names.clean_name(person.name) == person.name  # every stored name is clean
    await service.relay.close()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(script=commands)
def test_hostile_command_sequences_keep_state_equal_to_replay(store: AsyncStore, script: list[tuple]) -> None:
    asyncio.run(_run(store, script))


def test_the_strategies_reach_every_kind_of_command() -> None:
    kinds = {"join", "move", "step", "reveal", "leave", "forge", "raw", "reveal_all", "sort_all"}
    seen: set[str] = set()

    @settings(max_examples=300, database=None)
    @given(script=commands)
    def collect(script: list[tuple]) -> None:
        seen.update(c[0] for c in script)

    collect()
    assert seen == kinds, uuid.uuid4()
