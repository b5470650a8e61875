"""Session lifecycle on SQLite and PostgreSQL: idle sessions end (once, even with two workers sweeping),
the retention command deletes old sessions whole, and a participant's erasure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from cardsort_app.bootstrap import build
from cardsort_app.domain.events import EventType
from cardsort_app.service.errors import Rejected, SessionNotFound
from cardsort_app.service.lifecycle import end_idle_sessions
from cardsort_app.service.runtime import Runtime
from cardsort_app.service.workshop import Workshop
from cardsort_app.store.retention import main, purge
from tests.service.helpers import check_log, new_session, stored_log

LATER = datetime.now(UTC) + timedelta(hours=5)


async def test_an_idle_session_is_ended_once_by_two_sweeping_workers(
    rt: Runtime, second_worker: Runtime
) -> None:
    created, (ann,) = await new_session(rt, "Ann")
    busy, _ = await new_session(rt, "Bo")
    # Seen from five hours later, both are idle for more than four hours; sweep from both workers at once.
    ended = await asyncio.gather(
        end_idle_sessions(rt.store, rt.service, 240, now=LATER),
        end_idle_sessions(second_worker.store, second_worker.service, 240, now=LATER),
    )
    codes = ended[0] + ended[1]
    assert codes.count(created.code) == 1 and codes.count(busy.code) == 1
    log = await stored_log(rt, created.code)
    assert [e.type for e in log].count(EventType.SESSION_ENDED) == 1
    assert log[-1].payload.reason == "idle"
    await rt.hub.catch_up(created.code)
    state = check_log(created.code, log)
    assert state.ended and state == await rt.hub.state(created.code)
    with pytest.raises(Rejected, match="has ended"):
        await rt.service.join(created.code, "Cleo")
    # Ended sessions are not idle candidates any more.
    assert created.code not in await end_idle_sessions(rt.store, rt.service, 240, now=LATER)


async def test_recent_sessions_are_not_ended_and_zero_turns_it_off(rt: Runtime) -> None:
    created, _ = await new_session(rt, "Ann")
    assert created.code not in await end_idle_sessions(rt.store, rt.service, 240)
    assert await end_idle_sessions(rt.store, rt.service, 0, now=LATER) == []
    assert not (await rt.hub.state(created.code)).ended


async def test_retention_deletes_old_sessions_whole_and_keeps_recent_ones(rt: Runtime, db_url: str) -> None:
    old, _ = await new_session(rt, "Ann", "Bo")
    await Workshop(rt.service).end_session(old.code, old.facilitator_key)
    assert old.code in purge(db_url, days=30, dry_run=True, now=datetime.now(UTC) + timedelta(days=31))
    assert await rt.store.get_session(old.code) is not None  # a dry run deletes nothing
    deleted = purge(db_url, days=30, now=datetime.now(UTC) + timedelta(days=31))
    assert old.code in deleted
    assert await rt.store.get_session(old.code) is None
    assert await stored_log(rt, old.code) == []
    recent, _ = await new_session(rt, "Cleo")
    assert recent.code not in purge(db_url, days=30)
    assert await rt.store.get_session(recent.code) is not None
    fresh = build(db_url)  # a worker starting after the purge knows nothing of the session
    try:
        with pytest.raises(SessionNotFound):
            await fresh.service.require_session(old.code)
    finally:
        await fresh.close()


def test_the_purge_command_reports_what_it_did(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["purge", "--days", "3650", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("would delete 0 session(s) idle for more than 3650 days")
    with pytest.raises(SystemExit):
        main(["purge", "--days", "-1"])
