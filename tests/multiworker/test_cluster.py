"""Several backend workers + PostgreSQL + Redis + Ably: participants on different workers see each other
live, never flicker, and survive an Ably outage without losing or doubling anything."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import Page, expect

from tests.bus.helpers import carried_seqs
from tests.e2e import helpers as h
from tests.multiworker.conftest import WORKERS


def _worker(page: Page) -> str:
    return page.get_by_test_id("board").get_attribute("data-worker") or ""


def _spread_over_workers(cluster_context, code: str, names: list[str]) -> dict[str, Page]:
    """Join until the participants sit on at least two different backend workers. Which worker accepts a
    connection is the kernel's choice (one shared listening socket): one-by-one joins on an otherwise idle
    cluster can land on the same worker several times in a row, so up to 8 tabs per name are tried."""
    pages: dict[str, Page] = {}
    for i in range(8 * len(names)):
        name = names[i] if i < len(names) else f"{names[i % len(names)]}{i}"
        pages[name] = h.join(cluster_context(), code, name, record_steps=True)
        if len(pages) >= len(names) and len({_worker(p) for p in pages.values()}) >= 2:
            return pages
    raise AssertionError(f"every tab landed on one worker of {WORKERS}")


def _expect_everywhere(pages, name: str, attr: str, value: str, timeout_ms: float = 10_000) -> None:
    for page in pages:
        row = page.locator(
            f'[data-testid=participants] [data-testid=participant][data-participant-name="{name}"]'
        )
        expect(row).to_have_attribute(attr, value, timeout=timeout_ms)


def test_participants_on_different_workers_see_each_other_live(cluster_context, cluster_api) -> None:
    s = h.create_session(cluster_api)
    pages = _spread_over_workers(cluster_context, s.code, ["Ana", "Bea", "Cal"])
    for page in pages.values():
        expect(page.locator("[data-testid=participants] [data-testid=participant]")).to_have_count(len(pages))
    for name in pages:
        _expect_everywhere(pages.values(), name, "data-online", "true")

    # One participant toggles steps; the tabs on *other* workers follow, only ever by the log's order.
    actor_name, actor = next(iter(pages.items()))
    others = [p for p in pages.values() if _worker(p) != _worker(actor)]
    assert others, "the spread guarantees a tab on another worker"
    h.sort_step1(actor)
    took = []
    for i in range(6):
        expected = "2" if i % 2 == 0 else "1"
        start = time.monotonic()
        actor.get_by_test_id("complete-step" if expected == "2" else "back-step").click()
        _expect_everywhere(others, actor_name, "data-step", expected, timeout_ms=5_000)
        took.append(time.monotonic() - start)
    median_ms = sorted(took)[len(took) // 2] * 1000
    print(f"cross-worker step change seen in {median_ms:.0f} ms (median, incl. the driver's overhead)")

    # Everyone finishes step 1 at once; at rest every tab and the REST state agree, and nobody but the
    # actor (who went back on purpose) was ever seen going backwards.
    for page in pages.values():
        if page is not actor:
            h.sort_step1(page)
    at = actor.evaluate("Date.now()") + 300
    for page in pages.values():
        page.evaluate(
            "(at) => setTimeout(() => document.querySelector('[data-testid=complete-step]').click(),"
            " Math.max(0, at - Date.now()))",
            at,
        )
    for name in pages:
        _expect_everywhere(pages.values(), name, "data-step", "2")
    rest = {p["name"]: p["step"] for p in h.rest_state(cluster_api, s)["participants"]}
    assert rest == {name: 2 for name in pages}
    for page in pages.values():
        for name, seen in h.step_history(page).items():
            if name != actor_name:
                assert seen == sorted(seen, key=int), (name, seen)


def _connected_workers(ably) -> int:
    return sum(1 for c in ably.control.call("connections") if c["connected"])


def _wait_for_connected_workers(ably, check, what: str, timeout_s: float = 30) -> int:
    return h.eventually(lambda: _connected_workers(ably), check, what, timeout_s)


def _ably_up(ably) -> bool:
    """Whether the local Ably server listens (its control API shares the port, so it stops with it)."""
    try:
        ably.control.call("connections")
    except httpx.TransportError:
        return False
    return True


#: Long enough for the moves below on a busy machine; the test checks the outage really lasted that long.
OUTAGE_S = 30


def test_an_ably_outage_loses_nothing_and_everyone_converges(cluster_context, cluster_api, ably) -> None:
    s = h.create_session(cluster_api)
    pages = _spread_over_workers(cluster_context, s.code, ["Dee", "Eli", "Fay"])
    actor_name, actor = next(iter(pages.items()))
    for name in pages:
        _expect_everywhere(pages.values(), name, "data-online", "true")
    _wait_for_connected_workers(ably, lambda n: n == WORKERS, "every worker connected to Ably")

    ably.control.stop_for(OUTAGE_S)  # Ably goes away, and comes back by itself
    h.eventually(lambda: _ably_up(ably), lambda up: not up, "the Ably server stopped")
    h.sort_step1(actor)
    h.complete_step(actor, 2)
    # The workers keep taking commands: the log has the actor's step 2 (the events route reads the log) ...
    h.eventually(
        lambda: h.events(cluster_api, s),
        lambda events: any(e["type"] == "STEP_TRANSITIONED" and e["payload"]["toStep"] == 2 for e in events),
        "the actor's step 2 in the log during the outage",
    )
    # ... but nothing crossed to the other workers' tabs while Ably was down.
    others = [p for p in pages.values() if _worker(p) != _worker(actor)]
    assert all(h.participants(p)[actor_name]["step"] == "1" for p in others)
    assert not _ably_up(ably), f"the {OUTAGE_S} s outage ended before the checks above ran"

    # Ably comes back; the workers reconnect by themselves, catch up from the log and the relay republishes.
    h.eventually(lambda: _ably_up(ably), bool, "the Ably server back", timeout_s=OUTAGE_S + 30)
    _wait_for_connected_workers(ably, lambda n: n == WORKERS, "every worker reconnected to Ably")
    reconnected = time.monotonic()
    _expect_everywhere(pages.values(), actor_name, "data-step", "2", timeout_ms=15_000)
    print(f"tabs converged {time.monotonic() - reconnected:.2f} s after the workers reconnected to Ably")

    rest = h.rest_state(cluster_api, s)
    piles = rest["piles"][h.participants(actor)[actor_name]["id"]]
    for page in pages.values():
        assert h.participants(page)[actor_name]["step"] == "2"
        assert h.step_history(page)[actor_name] == ["1", "2"]  # never applied twice, never flickered
    assert piles["unsorted"] == [] and sum(len(v) for v in piles.values()) == 12
    events = h.events(cluster_api, s)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    # The relay publishes what the outage held back (in the background, after the reconnect).
    h.eventually(
        lambda: set(carried_seqs(ably.control.history(f"sessions:{s.code}"))),
        {e["seq"] for e in events}.issubset,
        "every event of the log published on Ably",
    )


def test_presence_across_workers_offline_and_back_without_a_duplicate(cluster_context, cluster_api) -> None:
    s = h.create_session(cluster_api)
    pages = _spread_over_workers(cluster_context, s.code, ["Gil", "Hal"])
    (name, leaver), *rest = [(n, p) for n, p in pages.items()]
    watchers = [p for _, p in rest]
    _expect_everywhere(watchers, name, "data-online", "true")
    profile = leaver.context.storage_state()  # the same browser profile comes back later

    leaver.context.close()  # the browser goes away: its worker drops the socket, Ably presence follows
    _expect_everywhere(watchers, name, "data-online", "false", timeout_ms=10_000)

    back = h.open_board(cluster_context(storage_state=profile), s.code)
    _expect_everywhere([*watchers, back], name, "data-online", "true", timeout_ms=10_000)
    for page in [*watchers, back]:
        expect(page.locator("[data-testid=participants] [data-testid=participant]")).to_have_count(len(pages))
    assert [p["name"] for p in h.rest_state(cluster_api, s)["participants"]].count(name) == 1
