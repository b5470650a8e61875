"""Limits with manners (service/limits.py): token buckets on a fake clock, and the service enforcing them
for session creation, joins and commands on a real database."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from cardsort_app.domain import rules
from cardsort_app.domain.events import Pile
from cardsort_app.service.errors import Rejected, SessionNotFound
from cardsort_app.service.limits import MAX_KEYS, LimitExceeded, Limits, LimitSettings, RateLimiter
from cardsort_app.service.runtime import Runtime
from cardsort_app.settings import load_settings
from tests.service.helpers import MINI, new_session


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = RateLimiter(rate=2, burst=5, clock=clock)
    assert [bucket.wait("a") for _ in range(5)] == [0.0] * 5
    assert bucket.wait("a") == pytest.approx(0.5)  # empty: the next token in 1/rate s
    assert bucket.wait("b") == 0.0  # keys are independent
    clock.now += 0.5
    assert bucket.wait("a") == 0.0
    assert bucket.wait("a") > 0
    clock.now += 100  # refills, but never beyond the burst
    assert [bucket.wait("a") for _ in range(6)].count(0.0) == 5


def test_a_flood_of_keys_is_bounded() -> None:
    bucket = RateLimiter(rate=1, burst=1, clock=Clock(), max_keys=100)
    for i in range(1000):
        bucket.wait(str(i))
    assert len(bucket._buckets) == 100
    assert MAX_KEYS >= 10_000


def test_limit_exceeded_says_when_to_retry() -> None:
    clock = Clock()
    limits = Limits(LimitSettings(creates_per_client_per_minute=2, creates_per_minute=100), clock)
    limits.create("10.0.0.1", 0)
    limits.create("10.0.0.1", 0)
    with pytest.raises(LimitExceeded) as err:
        limits.create("10.0.0.1", 0)
    assert err.value.status == 429 and err.value.retry_after == 30  # 2 per minute: one every 30 s
    assert "wait" in str(err.value)
    limits.create("10.0.0.2", 0)  # another client is not affected
    clock.now += 30
    limits.create("10.0.0.1", 0)


def test_the_global_and_open_session_limits() -> None:
    limits = Limits(
        LimitSettings(creates_per_client_per_minute=100, creates_per_minute=3, max_open_sessions=10)
    )
    for i in range(3):
        limits.create(f"10.0.0.{i}", 0)
    with pytest.raises(LimitExceeded, match="right now"):
        limits.create("10.0.0.99", 0)
    with pytest.raises(LimitExceeded, match="as many sessions"):
        Limits(LimitSettings(max_open_sessions=10)).create("10.0.0.1", 10)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARDSORT_CREATES_PER_CLIENT_PER_MINUTE", "7")
    monkeypatch.setenv("CARDSORT_PARTICIPANTS_PER_SESSION", "12")
    monkeypatch.setenv("CARDSORT_COMMANDS_PER_SECOND", "3.5")
    monkeypatch.setenv("CARDSORT_MAX_BODY_BYTES", "1000")
    s = LimitSettings(**load_settings().limit_options())
    assert (s.creates_per_client_per_minute, s.participants_per_session) == (7, 12)
    assert (s.commands_per_second, s.max_body_bytes) == (3.5, 1000)
    monkeypatch.setenv("CARDSORT_COMMAND_BURST", "-1")
    with pytest.raises(ValidationError, match="CARDSORT_COMMAND_BURST"):
        load_settings()


def test_the_defaults_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CARDSORT_"):
            monkeypatch.delenv(name)
    assert LimitSettings(**load_settings().limit_options()) == LimitSettings()


# --- the service enforces them ------------------------------------------------------------------------
async def test_session_creation_per_client(rt: Runtime) -> None:
    rt.service.limits = Limits(LimitSettings(creates_per_client_per_minute=3))
    for _ in range(3):
        await rt.service.create_session("W", MINI, client="192.0.2.1")
    with pytest.raises(LimitExceeded):
        await rt.service.create_session("W", MINI, client="192.0.2.1")
    await rt.service.create_session("W", MINI, client="192.0.2.2")


async def test_max_open_sessions_per_process(rt: Runtime) -> None:
    created, _ = await new_session(rt)
    open_now = rt.hub.open_sessions()
    assert open_now >= 1
    rt.service.limits = Limits(LimitSettings(max_open_sessions=open_now))
    with pytest.raises(LimitExceeded, match="as many sessions"):
        await rt.service.create_session("W", MINI)
    await rt.hub.release(created.code)  # a released session frees its place
    if rt.hub.open_sessions() < open_now:
        await rt.service.create_session("W", MINI)


async def test_joins_per_session_are_capped(rt: Runtime) -> None:
    rt.service.limits = Limits(LimitSettings(participants_per_session=3))
    created, people = await new_session(rt, "Ann", "Bob", "Cy")
    with pytest.raises(Rejected, match=r"full \(3 participants\)"):
        await rt.service.join(created.code, "Dee")
    assert len((await rt.hub.state(created.code)).participants) == 3
    assert await rt.service.join(created.code, "", people[0]) == people[0]  # resuming is not joining
    await rt.service.leave(created.code, people[2])
    await rt.service.join(created.code, "Dee")  # a place freed up


async def test_join_attempts_per_client(rt: Runtime) -> None:
    rt.service.limits = Limits(LimitSettings(joins_per_client_per_minute=2))
    created, _ = await new_session(rt)
    await rt.service.join(created.code, "Ann", client="192.0.2.7")
    with pytest.raises(SessionNotFound):
        await rt.service.join("NOSUCH", "Bob", client="192.0.2.7")  # a wrong code counts too
    with pytest.raises(LimitExceeded):
        await rt.service.join(created.code, "Cy", client="192.0.2.7")
    await rt.service.join(created.code, "Cy", client="192.0.2.8")


async def test_commands_per_participant_allow_bursts(rt: Runtime) -> None:
    clock = Clock()
    rt.service.limits = Limits(LimitSettings(commands_per_second=2, command_burst=4), clock)
    created, (ann, bob) = await new_session(rt, "Ann", "Bob")
    for _ in range(4):
        rt.service.check_command_rate(created.code, ann.participant_id)
    with pytest.raises(LimitExceeded, match="very fast") as err:
        rt.service.check_command_rate(created.code, ann.participant_id)
    assert err.value.retry_after == 1
    rt.service.check_command_rate(created.code, bob.participant_id)  # somebody else is not slowed down
    clock.now += 0.5
    rt.service.check_command_rate(created.code, ann.participant_id)
    card = (await rt.hub.state(created.code)).card_ids[0]
    await rt.service.command(created.code, ann, lambda s, pid: rules.move_card(s, pid, card, Pile.IMPORTANT))
