"""The live registry across processes and sockets: what two workers and a reloading tab must not confuse.

* Granian forks its workers after the app is imported: each worker must stamp its rows with its own id,
  or a tab reconnected to another worker compares two processes' counters as one and can keep an older
  row (found by `benchmarks.ws_load --workers 2`: tabs showing connected participants offline for good).
* A reload opens the tab's new socket before the server has processed the old one's end: that late end
  must not detach the tab (it would stop its pushes and show its participant offline while connected).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cardsort_app.bootstrap import build
from cardsort_app.service.runtime import Runtime
from cardsort_app.store.migrate import upgrade
from cardsort_app.ui import live as live_module
from cardsort_app.ui import live_feed
from cardsort_app.ui.board_state import BoardState


def _worker_id(out: multiprocessing.SimpleQueue) -> None:
    out.put(live_feed.WORKER)


def test_a_forked_worker_stamps_rows_with_its_own_id() -> None:
    ctx = multiprocessing.get_context("fork")
    out = ctx.SimpleQueue()
    children = [ctx.Process(target=_worker_id, args=(out,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(10)
    ids = {out.get(), out.get()}
    assert len(ids) == 2, "two forked workers share one stamp id"
    assert live_feed.WORKER not in ids, "a forked worker kept its parent's stamp id"


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade(url)
    runtime = build(url)
    yield runtime
    await runtime.close()


async def test_the_old_sockets_late_end_does_not_detach_a_reloaded_tab(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_module, "get_runtime", lambda: rt)
    registry = live_module.LiveRegistry()  # no app: no Socket.IO rooms, the registry and presence only
    created = await rt.service.create_session("Reload")
    code = created.code
    me = await rt.service.join(code, "Ana")
    pid = me.participant_id

    await registry.attach("tab-1", code, BoardState, pid, sid="old-socket")
    await registry.attach("tab-1", code, BoardState, pid, sid="new-socket")  # the reload, first
    registry.on_socket_disconnect("tab-1", "old-socket")  # then the old socket's end arrives
    await asyncio.sleep(0.05)  # any detach it scheduled has run
    assert "tab-1" in registry.tabs and registry.tabs["tab-1"].sid == "new-socket"
    assert pid in rt.queries.online(code), "the reloaded participant shows offline"

    registry.on_socket_disconnect("tab-1", "new-socket")  # the tab really closes
    await asyncio.sleep(0.05)
    assert "tab-1" not in registry.tabs and "tab-1" in registry.parked
    assert pid not in rt.queries.online(code)


async def test_a_change_marks_only_its_participants_tabs_and_the_dashboards(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_mark_own` finds the tabs to push through an index (no pass over every tab of the session per
    change): the mover's tabs and the dashboards, nobody else; a tab that goes or joins moves in the index."""
    monkeypatch.setattr(live_module, "get_runtime", lambda: rt)
    registry = live_module.LiveRegistry()
    marked: list[str] = []
    monkeypatch.setattr(registry, "mark", marked.append)
    code = (await rt.service.create_session("Index")).code
    ana = (await rt.service.join(code, "Ana")).participant_id
    bea = (await rt.service.join(code, "Bea")).participant_id
    await registry.attach("ana-1", code, BoardState, ana)
    await registry.attach("ana-2", code, BoardState, ana)
    await registry.attach("bea-1", code, BoardState, bea)
    await registry.attach("lobby", code, BoardState, None)  # not joined yet: no change is its own
    await registry.attach("dash", code, BoardState, None, everything=True)

    registry._mark_own(code, {ana}, dashboards=True)
    assert sorted(marked) == ["ana-1", "ana-2", "dash"]
    marked.clear()
    registry._mark_own(code, {ana}, dashboards=False)  # a step change: the dashboards' feed shows it
    assert sorted(marked) == ["ana-1", "ana-2"]

    marked.clear()
    await registry.attach("lobby", code, BoardState, bea)  # joined as Bea
    await registry.detach("ana-2")
    registry._mark_own(code, {ana, bea}, dashboards=False)
    assert sorted(marked) == ["ana-1", "bea-1", "lobby"]

    for token in ("ana-1", "bea-1", "lobby", "dash"):
        await registry.detach(token)
    assert registry.own == {}, "a session without tabs keeps index entries"
