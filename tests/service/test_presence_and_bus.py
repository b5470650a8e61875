"""InProcessPresence (who is online, per participant, never per tab) and InProcessBus delivery."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cardsort_app.bus.inprocess import InProcessBus
from cardsort_app.bus.inprocess_presence import InProcessPresence
from cardsort_app.domain import rules
from cardsort_app.domain.events import Event


class Heard:
    def __init__(self) -> None:
        self.changes: list[tuple[str, str, bool]] = []

    def __call__(self, code: str, participant_id: str, online: bool) -> None:
        self.changes.append((code, participant_id, online))


def test_online_changes_only_on_first_enter_and_last_leave() -> None:
    presence = InProcessPresence()
    heard, also = Heard(), Heard()
    presence.listen(heard)
    presence.listen(also)

    presence.enter("tab-1", "ABC234", "p_ann")
    presence.enter("tab-2", "ABC234", "p_ann")  # a second tab of Ann
    presence.enter("tab-2", "ABC234", "p_ann")  # the same tab again (reconnect)
    presence.enter("tab-3", "ABC234", "p_bo")
    assert heard.changes == [("ABC234", "p_ann", True), ("ABC234", "p_bo", True)]
    assert presence.online("ABC234") == {"p_ann", "p_bo"}
    assert presence.is_online("ABC234", "p_ann")

    presence.leave("tab-1")
    assert presence.is_online("ABC234", "p_ann")  # tab-2 is still open
    assert len(heard.changes) == 2
    presence.leave("tab-2")
    assert heard.changes[-1] == ("ABC234", "p_ann", False)
    assert not presence.is_online("ABC234", "p_ann")
    presence.leave("tab-2")  # twice, and an unknown tab: nothing happens
    presence.leave("never-entered")
    assert len(heard.changes) == 3
    assert presence.online("ABC234") == {"p_bo"}

    presence.enter("tab-1", "ABC234", "p_ann")  # back: online again
    assert heard.changes[-1] == ("ABC234", "p_ann", True)
    assert also.changes == heard.changes


def test_a_tab_that_moves_to_another_session_or_participant() -> None:
    presence = InProcessPresence()
    heard = Heard()
    presence.listen(heard)
    presence.enter("tab", "AAA222", "p_ann")
    presence.enter("tab", "BBB333", "p_ann")  # the same tab opens another session
    assert heard.changes == [("AAA222", "p_ann", True), ("AAA222", "p_ann", False), ("BBB333", "p_ann", True)]
    assert presence.online("AAA222") == set() and presence.online("BBB333") == {"p_ann"}
    presence.enter("tab", "BBB333", "p_bo")  # and then joins there as somebody else
    assert heard.changes[-2:] == [("BBB333", "p_ann", False), ("BBB333", "p_bo", True)]
    # sessions do not leak into each other
    presence.enter("other", "AAA222", "p_bo")
    assert presence.online("AAA222") == {"p_bo"} and presence.online("BBB333") == {"p_bo"}
    assert not presence.is_online("AAA222", "p_ann")


def test_a_broken_presence_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    presence = InProcessPresence()
    heard = Heard()

    def broken(*_args: object) -> None:
        raise RuntimeError("listener bug")

    presence.listen(broken)
    presence.listen(heard)
    with caplog.at_level(logging.ERROR):
        presence.enter("tab", "AAA222", "p_ann")
    assert heard.changes == [("AAA222", "p_ann", True)]
    assert presence.is_online("AAA222", "p_ann")
    assert "presence listener failed" in caplog.text


def _event(code: str, seq: int) -> Event:
    return rules.create_session(code, "t", "values-mini", ["a"]).sequenced(seq)


async def test_bus_delivers_per_session_and_survives_a_broken_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = InProcessBus()
    got: list[tuple[str, str, int]] = []

    def handler(name: str):
        async def handle(event: Event) -> None:
            await asyncio.sleep(0)
            got.append((name, event.session_code, event.seq))

        return handle

    async def broken(_event: Event) -> None:
        raise RuntimeError("subscriber bug")

    a1 = await bus.subscribe("AAA222", handler("a1"))
    await bus.subscribe("AAA222", handler("a2"))
    await bus.subscribe("AAA222", broken)
    await bus.subscribe("BBB333", handler("b"))
    assert bus.subscribed_sessions() == {"AAA222", "BBB333"}
    assert await bus.healthy()

    with caplog.at_level(logging.ERROR):
        await bus.publish(_event("AAA222", 1))
    assert sorted(got) == [("a1", "AAA222", 1), ("a2", "AAA222", 1)]
    assert "subscriber failed" in caplog.text

    await a1.close()
    got.clear()
    await bus.publish(_event("AAA222", 2))
    await bus.publish(_event("CCC444", 1))  # nobody listens: dropped, no error
    assert got == [("a2", "AAA222", 2)]

    await bus.close()
    assert bus.subscribed_sessions() == set()
    await bus.publish(_event("BBB333", 1))
    assert got == [("a2", "AAA222", 2)]


async def test_closing_the_last_subscription_forgets_the_session() -> None:
    bus = InProcessBus()

    async def noop(_event: Event) -> None:
        return None

    first = await bus.subscribe("AAA222", noop)
    second = await bus.subscribe("AAA222", noop)
    await first.close()
    assert bus.subscribed_sessions() == {"AAA222"}
    await second.close()
    assert bus.subscribed_sessions() == set()
