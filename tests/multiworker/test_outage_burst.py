"""Issue 8's "done when": the two-worker deployment (PostgreSQL + Redis + the local Ably server with every
rule on: 40031 batch ids, ~2 min idempotency window, 50 msg/s per channel, 64 KiB messages) survives a
10 s Ably outage during a burst of 500 moves from 50 participants with nothing lost, doubled or stuck.

The participants are headless tabs speaking the app's websocket protocol (tests/support/reflex_ws.py),
spread over both workers by the load balancer. Each moves 10 of its 12 cards out of `unsorted`, about one
a second, while Ably is stopped for 10 s in the middle. Afterwards:

* the log holds exactly the 500 moves, each (participant, card) once;
* a facilitator dashboard on *each* worker shows every participant's counts as the log says (each
  worker's projection reached the log's head: nothing lost, doubled or stuck across workers);
* every participant's own board shows its own piles;
* the relay published everything (nothing unpublished in the log; every seq on the Ably channel).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from cardsort_app.store.eventstore import EventStore
from tests.bus.helpers import carried_seqs
from tests.support.reflex_ws import (
    BOARD,
    DASHBOARD,
    Tab,
    join_board,
    move_change,
    open_dashboard,
    row_of,
    send_changes,
    shown_rows,
)

log = logging.getLogger(__name__)

PARTICIPANTS = 50
MOVES_EACH = 10
OUTAGE_S = 10.0
TARGETS = ("very-important", "important", "not-important")
EXPECTED = {  # counts after moving cards 0..9 of 12 to TARGETS[i % 3]
    "unsorted": 12 - MOVES_EACH,
    "very-important": 4,
    "important": 3,
    "not-important": 3,
}
TIMEOUT = 90.0  # set-up waits on a loaded 2-core machine


def test_a_ten_second_ably_outage_during_a_burst_of_500_moves_loses_doubles_and_sticks_nothing(
    cluster, cluster_api: httpx.Client, cluster_db: str, ably
) -> None:
    created = cluster_api.post("/api/sessions", json={"title": "outage burst", "deck": "values-mini"})
    created.raise_for_status()
    code, key = created.json()["code"], created.json()["facilitatorKey"]
    ably.control.call("reset_counters")
    with ThreadPoolExecutor(1) as pool:  # its own event loop: Playwright's may be running in this one
        report = pool.submit(asyncio.run, _burst(cluster.url, code, key, ably)).result(timeout=900)
    log.warning("outage burst: %s", report)

    events = _log(cluster_api, code, key)
    moves = [e for e in events if e["type"] == "CARD_MOVED"]
    assert len(moves) == PARTICIPANTS * MOVES_EACH  # nothing lost ...
    assert len({(e["participantId"], e["payload"]["cardId"]) for e in moves}) == len(moves)  # ... or doubled
    assert len({e["id"] for e in events}) == len(events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

    # Nothing stuck in the relays: everything published, every seq on the channel.
    store = EventStore(cluster_db)
    try:
        deadline = time.monotonic() + 60
        while store.unpublished(code) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert store.unpublished(code) == []
    finally:
        store.dispose()
    carried = set(carried_seqs(ably.control.history(f"sessions:{code}")))
    assert set(range(1, len(events) + 1)) <= carried
    counters = ably.control.counters()
    assert counters["refused_ids"] == 0  # Ably's 40031 rule never tripped
    assert report["workers"] == 2 and report["dashboards"] == 2


def _log(api: httpx.Client, code: str, key: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        r = api.get(
            f"/api/sessions/{code}/events",
            params={"after": after, "limit": 1000},
            headers={"Authorization": f"Bearer {key}"},
        )
        r.raise_for_status()
        page = r.json()["events"]
        if not page:
            return events
        events += page
        after = page[-1]["seq"]


async def _burst(url: str, code: str, key: str, ably) -> dict[str, Any]:
    ws_base = url.replace("http://", "ws://", 1).rstrip("/")
    tabs = [Tab(ws_base, f"P{i:02d}") for i in range(PARTICIPANTS)]
    gate = asyncio.Semaphore(8)

    async def join(tab: Tab) -> None:
        async with gate:
            await join_board(tab, code, TIMEOUT)

    dashboards: dict[str, Tab] = {}
    spare: list[Tab] = []
    try:
        await asyncio.gather(*(join(t) for t in tabs))
        workers = {t.get(BOARD, "worker") for t in tabs}
        assert len(workers) == 2, f"the participants' tabs sit on {workers}"
        for i in range(20):  # a dashboard on each worker
            tab = Tab(ws_base, f"F{i}")
            await open_dashboard(tab, code, key, TIMEOUT)
            worker = tab.get(DASHBOARD, "worker")
            if worker in dashboards:
                spare.append(tab)
            else:
                dashboards[worker] = tab
            if len(dashboards) == 2:
                break
        assert set(dashboards) == workers

        plans = {}
        for tab in tabs:
            tab.drain()
            cards = [c["id"] for c in tab.get(BOARD, "piles", {}).get("unsorted", [])]
            assert len(cards) == 12, f"{tab.name} has {len(cards)} unsorted cards"
            plans[tab.name] = [(card, TARGETS[i % 3]) for i, card in enumerate(cards[:MOVES_EACH])]

        rng = random.Random(8)

        async def act(tab: Tab) -> None:
            await asyncio.sleep(rng.uniform(0, 1.0))
            for card, pile in plans[tab.name]:
                await send_changes(tab, move_change(card, "unsorted", pile))  # as the board's queue sends it
                await asyncio.sleep(rng.uniform(0.8, 1.4))

        started = time.monotonic()
        burst = asyncio.gather(*(act(t) for t in tabs))
        await asyncio.sleep(2.0)
        await asyncio.to_thread(ably.control.stop_for, OUTAGE_S)  # Ably goes away mid-burst ...
        outage_started = time.monotonic()
        await burst
        burst_s = time.monotonic() - started
        while time.monotonic() < outage_started + OUTAGE_S:  # ... and comes back after 10 s
            await asyncio.sleep(0.1)
        back = time.monotonic()
        logged_s = await _all_moves_logged(url, code, key) - back

        def level(dash: Tab) -> bool:
            rows = shown_rows(dash)  # the facilitator feed's rows, as the dashboard merges them
            return all(
                (row_of(rows, t.pid) or {}).get("counts", {}).get(p) == n
                for t in tabs
                for p, n in EXPECTED.items()
            )

        await asyncio.gather(*(d.until(lambda d=d: level(d), 120, "all counts") for d in dashboards.values()))
        converged_s = time.monotonic() - back

        def own(tab: Tab) -> bool:
            piles = tab.get(BOARD, "piles", {})
            return all(len(piles.get(p, [])) == n for p, n in EXPECTED.items())

        await asyncio.gather(*(t.until(lambda t=t: own(t), 30, "its own piles") for t in tabs))
        return {
            "moves": PARTICIPANTS * MOVES_EACH,
            "burst_s": round(burst_s, 1),
            "outage_s": OUTAGE_S,
            "workers": len(workers),
            "dashboards": len(dashboards),
            "all 500 moves in the log, after Ably came back (s)": round(logged_s, 2),
            "both dashboards level, after Ably came back (s)": round(converged_s, 2),
            "tabs per worker": {w: sum(t.get(BOARD, "worker") == w for t in tabs) for w in workers},
            "ably": {k: v for k, v in ably.control.counters().items() if v and k in COUNTERS},
        }
    finally:
        everyone = [*tabs, *dashboards.values(), *spare]
        await asyncio.gather(*(t.close() for t in everyone), return_exceptions=True)


async def _all_moves_logged(url: str, code: str, key: str) -> float:
    """When the log held every move (the workers' command backlog, not Ably, decides this)."""
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        while time.monotonic() < deadline:
            r = await api.get(
                f"/api/sessions/{code}/events",
                params={"after": 0, "limit": 1000},
                headers={"Authorization": f"Bearer {key}"},
            )
            r.raise_for_status()
            moves = sum(e["type"] == "CARD_MOVED" for e in r.json()["events"])
            if moves >= PARTICIPANTS * MOVES_EACH:
                return time.monotonic()
            await asyncio.sleep(0.2)
    raise AssertionError(f"only {moves} moves in the log after 120 s")


COUNTERS = (
    "published",
    "refused_ids",
    "idempotent_dropped",
    "rate_limited",
    "nacked",
    "resumed",
    "channel_resumes",
)
