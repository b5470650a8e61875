"""A closed tab gives its memory back (issue 10): its Reflex state and the live registry's records of it go
once its grace period is over, and a tab that comes back later still finds its board (rebuilt from the log
and its localStorage identity, as a reload does).

Read through the app's own `/metrics` gauges (`cardsort_tab_states`: Reflex states held in the worker's
memory; `cardsort_tab_records`: tabs the live registry remembers), never through timings. The app is its
own, started with a short grace period (`CARDSORT_TAB_GRACE_SECONDS`), so no other test's tabs count.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.app_server import AppServer, app_env, free_port
from tests.support.reflex_ws import BOARD, Tab, join_board, load_board

TABS = 20
GRACE_S = 2.0
TIMEOUT = 60.0
GAUGES = ("cardsort_tab_states", "cardsort_tab_records", "cardsort_connected_tabs")


@pytest.fixture(scope="module")
def short_grace_app() -> Iterator[AppServer]:
    data = Path(tempfile.mkdtemp(prefix="cardsort-release-"))
    env = app_env(
        DATABASE_URL=f"sqlite:///{data / 'cardsort.db'}",
        CARDSORT_TAB_GRACE_SECONDS=str(GRACE_S),
        CARDSORT_JOINS_PER_CLIENT_PER_MINUTE="100000",
    )
    server = AppServer(free_port(), env, data / "app.log")
    server.start()
    yield server
    server.stop()


async def gauges(api: httpx.AsyncClient) -> dict[str, float]:
    r = await api.get("/metrics")
    r.raise_for_status()
    found = {s.name: s.value for f in text_string_to_metric_families(r.text) for s in f.samples}
    return {name: found[name] for name in GAUGES}


async def until_gauges(api: httpx.AsyncClient, want: dict[str, float], within: float) -> dict[str, float]:
    """Scrape until every gauge in `want` has that value (the grace timers fire on their own)."""
    deadline = time.monotonic() + within
    while True:
        now = await gauges(api)
        if all(now[k] == v for k, v in want.items()) or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.5)


async def test_closed_tabs_release_their_state_and_records_and_a_late_return_reloads(
    short_grace_app: AppServer,
) -> None:
    url = short_grace_app.url
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as api:
        baseline = await gauges(api)
        code = (await api.post("/api/sessions", json={"deck": "values-mini"})).json()["code"]
        tabs = [Tab(url.replace("http://", "ws://"), f"R{i}") for i in range(TABS)]
        await asyncio.gather(*(join_board(t, code, TIMEOUT) for t in tabs))

        held = await gauges(api)
        for name in GAUGES:  # every open tab has its state and its record
            assert held[name] >= baseline[name] + TABS, (name, baseline, held)

        await asyncio.gather(*(t.close() for t in tabs))
        released = await until_gauges(api, baseline, within=GRACE_S + 30)
        assert released == baseline, f"after closing {TABS} tabs: {released}, before them: {baseline}"

        # A tab coming back after its state was released: the same token and localStorage, as a browser
        # reconnecting after a long outage. Its on_load rebuilds the board from the log.
        back = tabs[0]
        await load_board(back, code, TIMEOUT)
        assert back.get(BOARD, "status") == "ready"
        assert back.get(BOARD, "me") == back.pid
        assert len(back.get(BOARD, "piles")["unsorted"]) == 12  # values-mini, nothing moved
        again = await gauges(api)
        assert again["cardsort_tab_states"] == baseline["cardsort_tab_states"] + 1
        await back.close()
        assert await until_gauges(api, baseline, within=GRACE_S + 30) == baseline
