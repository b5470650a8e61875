"""Offline a participant can trust (issue 7, item 2), in real Chromium with the socket really closed.

Changes made while disconnected show at once, wait in a queue in localStorage (it survives a reload),
are replayed in order when the connection returns, and each lands exactly once or is rolled back with a
`conflict-notice` naming why. The board says it is offline and how many changes wait (`offline-banner`,
`data-pending`). Every view, the log and REST agree afterwards.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from playwright.sync_api import Error as PlaywrightError

from tests.e2e import helpers as h

TARGETS = ["very-important", "important", "not-important"]
BACK_TIMEOUT_MS = 45_000  # Reflex's reconnect backoff after a long outage, plus the replay


def _events(api, s: h.Session) -> list[dict]:
    r = api.get(f"/api/sessions/{s.code}/events?limit=1000", headers=s.auth)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def _queued(page: Page, code: str) -> list[dict]:
    return page.evaluate(
        "(code) => JSON.parse(localStorage.getItem('cardsort_pending:' + code) || '[]')", code
    )


def _shots(tmp_path: Path) -> Path:
    """Where the offline screenshots go (to look at them: CARDSORT_SCREENSHOTS=dir)."""
    target = Path(os.environ.get("CARDSORT_SCREENSHOTS", tmp_path))
    target.mkdir(parents=True, exist_ok=True)
    return target


def _wait_sent(page: Page, code: str) -> None:
    """Until the queue is empty: every change was acknowledged (landed or rolled back)."""
    page.wait_for_function(
        "(code) => !localStorage.getItem('cardsort_pending:' + code)", arg=code, timeout=BACK_TIMEOUT_MS
    )


def _banner(page: Page):
    return page.get_by_test_id("offline-banner")


def _board_piles(page: Page) -> dict[str, list[str]]:
    return {p: h.pile_cards(page, p) for p in ("unsorted", *TARGETS, "top8", "top3")}


def _sort_all_offline(page: Page) -> list[tuple[str, str]]:
    """Sort every unsorted card, alternating the card menu and the one-tap buttons; returns the moves."""
    made = []
    for i, card in enumerate(h.pile_cards(page, "unsorted")):
        target = TARGETS[i % 3]
        if i % 2:
            quick = f'[data-pile="unsorted"] [data-card-id="{card}"] [data-testid="quick-{target}"]'
            page.locator(quick).click()
        else:
            h.move(page, card, target, wait=False)
        expect(h.card_in(page, target, card)).to_be_visible()  # shown at once, with no connection
        expect(_banner(page)).to_have_attribute("data-pending", str(i + 1))
        made.append((card, target))
    return made


def _assert_landed_once(api, s: h.Session, pid: str, moves: list[tuple[str, str]], steps: int) -> None:
    events = _events(api, s)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event id appears twice in the log"
    mine = [e for e in events if e["participantId"] == pid]
    moved = [(e["payload"]["cardId"], e["payload"]["toPile"]) for e in mine if e["type"] == "CARD_MOVED"]
    assert moved == moves, "the queued moves landed in the order made, each exactly once"
    assert Counter(c for c, _ in moved) == Counter(c for c, _ in moves)
    transitions = [e for e in mine if e["type"] == "STEP_TRANSITIONED"]
    assert len(transitions) == steps
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # gapless, nothing half-written


def _agree(api, s: h.Session, page: Page, pid: str, others: list[Page]) -> None:
    state = h.rest_state(api, s)
    piles = state["piles"][pid]
    assert {p: piles[p] for p in piles} == _board_piles(page)
    step = next(p["step"] for p in state["participants"] if p["id"] == pid)
    expect(page.get_by_test_id("board")).to_have_attribute("data-step", str(step))
    for other in others:
        row = other.locator(f'[data-testid=participant][data-participant-id="{pid}"]')
        expect(row).to_have_attribute("data-step", str(step))


@pytest.mark.parametrize(
    ("seconds", "cut_socket"),
    [(2, True), (15, True), (60, True), (15, False)],
    ids=["2s", "15s", "60s", "15s-socket-left-to-die"],
)
def test_an_outage_loses_nothing_and_doubles_nothing(new_context, api, seconds, cut_socket) -> None:
    """Sort all 12 cards and finish step 1 while offline; everything lands once when back online.

    `socket-left-to-die` is the reported case: only the network goes (`set_offline`), the open socket
    stays up until Chromium drops it, so frames sent meanwhile vanish; the queue resends until acked."""
    s = h.create_session(api)
    ctx: BrowserContext = new_context()
    network = h.NetworkSwitch(ctx) if cut_socket else None
    page = h.join(ctx, s.code, "Ola")
    watcher = h.join(new_context(), s.code, "Pim")
    pid = h.participants(page)["Ola"]["id"]
    expect(_banner(page)).to_have_count(0)

    started = time.monotonic()
    if network is not None:
        network.go_offline()
    else:
        ctx.set_offline(True)
    expect(_banner(page)).to_be_visible()
    moves = _sort_all_offline(page)
    page.get_by_test_id("complete-step").click()
    expect(page.get_by_test_id("board")).to_have_attribute("data-step", "2")  # optimistic step change
    expect(_banner(page)).to_have_attribute("data-pending", str(len(moves) + 1))
    assert len(_queued(page, s.code)) == len(moves) + 1
    # Nothing has reached the server: the log and the other participant still show step 1, all unsorted.
    assert len(h.rest_state(api, s)["piles"][pid]["unsorted"]) == 12
    expect(watcher.locator(f'[data-participant-id="{pid}"]')).to_have_attribute("data-step", "1")
    page.wait_for_timeout(max(0.0, seconds - (time.monotonic() - started)) * 1000)  # the outage itself

    if network is not None:
        network.go_online()
    else:
        ctx.set_offline(False)
    expect(_banner(page)).to_have_count(0, timeout=BACK_TIMEOUT_MS)
    _wait_sent(page, s.code)
    expect(watcher.locator(f'[data-participant-id="{pid}"]')).to_have_attribute(
        "data-step", "2", timeout=BACK_TIMEOUT_MS
    )
    _assert_landed_once(api, s, pid, moves, steps=1)
    _agree(api, s, page, pid, [watcher])
    expect(page.get_by_test_id("conflict-notice")).to_have_count(0)
    # A reload shows the same board: nothing was only in the tab's memory.
    before = _board_piles(page)
    page.reload()
    expect(page.get_by_test_id("board")).to_have_attribute("data-step", "2")
    assert _board_piles(page) == before


def test_a_reload_while_offline_keeps_the_queue_and_replays_it(new_context, api, tmp_path) -> None:
    s = h.create_session(api)
    ctx = new_context()
    network = h.NetworkSwitch(ctx)
    page = h.join(ctx, s.code, "Quin")
    pid = h.participants(page)["Quin"]["id"]
    cards = h.pile_cards(page, "unsorted")[:3]

    network.go_offline()
    for card, pile in zip(cards, TARGETS, strict=True):
        h.move(page, card, pile)
    expect(_banner(page)).to_have_attribute("data-pending", "3")
    page.screenshot(path=str(_shots(tmp_path) / "offline-desktop.png"))

    # Reloading with no network shows the browser's offline page; the queue waits in localStorage.
    with pytest.raises(PlaywrightError):
        page.reload()
    network.go_online()
    page.goto(f"/s/{s.code}")  # the participant comes back once the network is there
    for card, pile in zip(cards, TARGETS, strict=True):
        expect(h.card_in(page, pile, card)).to_be_visible(timeout=BACK_TIMEOUT_MS)
    expect(_banner(page)).to_have_count(0, timeout=BACK_TIMEOUT_MS)
    _wait_sent(page, s.code)
    _assert_landed_once(api, s, pid, list(zip(cards, TARGETS, strict=True)), steps=0)
    _agree(api, s, page, pid, [])


def test_a_change_made_meanwhile_in_another_tab_is_rolled_back_with_the_reason(new_context, api) -> None:
    s = h.create_session(api)
    ctx = new_context()
    network = h.NetworkSwitch(ctx)
    page = h.join(ctx, s.code, "Rui")
    # The same person on a second device (same identity, its own localStorage), which stays online.
    twin = h.open_board(new_context(storage_state=ctx.storage_state()), s.code)
    pid = h.participants(page)["Rui"]["id"]
    cards = h.pile_cards(page, "unsorted")[:3]

    network.go_offline()
    h.move(page, cards[0], "important")
    h.move(page, cards[1], "very-important")  # the twin moves this one first, elsewhere
    h.move(page, cards[2], "not-important")
    expect(_banner(page)).to_have_attribute("data-pending", "3")
    h.move(twin, cards[1], "not-important")
    page.wait_for_timeout(15_000)  # a long outage: the closed socket is retried and refused meanwhile

    network.go_online()
    notice = page.get_by_test_id("conflict-notice")
    expect(notice).to_contain_text("That card has already moved", timeout=BACK_TIMEOUT_MS)
    expect(notice).to_contain_text("undone")
    expect(h.card_in(page, "not-important", cards[1])).to_be_visible()  # rolled back to the twin's move
    expect(h.card_in(page, "important", cards[0])).to_be_visible()
    expect(h.card_in(page, "not-important", cards[2])).to_be_visible()
    expect(_banner(page)).to_have_count(0)
    _wait_sent(page, s.code)
    _assert_landed_once(
        api, s, pid, [(cards[1], "not-important"), (cards[0], "important"), (cards[2], "not-important")], 0
    )
    _agree(api, s, page, pid, [])
    assert _board_piles(twin) == _board_piles(page)


def test_a_phone_taps_offline_and_the_change_lands_when_back(new_context, api, tmp_path) -> None:
    s = h.create_session(api)
    ctx = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    network = h.NetworkSwitch(ctx)
    page = h.join(ctx, s.code, "Sol")
    pid = h.participants(page)["Sol"]["id"]
    card = h.pile_cards(page, "unsorted")[0]

    network.go_offline()
    page.locator(f'[data-pile="unsorted"] [data-card-id="{card}"] [data-testid="quick-important"]').tap()
    expect(h.card_in(page, "important", card)).to_be_visible()
    expect(_banner(page)).to_have_attribute("data-pending", "1")
    page.screenshot(path=str(_shots(tmp_path) / "offline-phone.png"))

    network.go_online()
    expect(_banner(page)).to_have_count(0, timeout=BACK_TIMEOUT_MS)
    _wait_sent(page, s.code)
    expect(h.card_in(page, "important", card)).to_be_visible()
    _assert_landed_once(api, s, pid, [(card, "important")], 0)


def test_focus_mode_sorts_and_undoes_offline_and_everything_lands_once(new_context, api) -> None:
    """Focus mode goes through the same queue: offline the next card shows at once, undo brings the last
    one back into focus, and when the connection returns the log holds exactly what the participant did."""
    s = h.create_session(api)
    ctx = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    network = h.NetworkSwitch(ctx)
    page = h.join(ctx, s.code, "Fox")
    pid = h.participants(page)["Fox"]["id"]
    deck = h.pile_cards(page, "unsorted")
    page.get_by_test_id("focus-toggle").click()
    focus = page.get_by_test_id("focus-card")
    expect(focus).to_have_attribute("data-card-id", deck[0])

    network.go_offline()
    page.get_by_test_id("focus-move-very-important").tap()
    expect(focus).to_have_attribute("data-card-id", deck[1])
    page.get_by_test_id("focus-move-important").tap()
    expect(focus).to_have_attribute("data-card-id", deck[2])
    page.get_by_test_id("focus-undo").tap()  # deck[1] comes back into focus, still offline
    expect(focus).to_have_attribute("data-card-id", deck[1])
    page.keyboard.press("3")
    expect(focus).to_have_attribute("data-card-id", deck[2])
    expect(page.get_by_test_id("focus-mode")).to_contain_text(f"2 of {len(deck)} sorted")
    expect(_banner(page)).to_have_attribute("data-pending", "4")

    network.go_online()
    expect(_banner(page)).to_have_count(0, timeout=BACK_TIMEOUT_MS)
    _wait_sent(page, s.code)
    moves = [
        (deck[0], "very-important"),
        (deck[1], "important"),
        (deck[1], "unsorted"),
        (deck[1], "not-important"),
    ]
    _assert_landed_once(api, s, pid, moves, 0)
    piles = h.rest_state(api, s)["piles"][pid]
    assert piles["unsorted"][0] == deck[2] and piles["not-important"] == [deck[1]]
    expect(focus).to_have_attribute("data-card-id", deck[2])


def test_a_connection_silently_dead_past_the_ping_timeout_comes_back_by_itself(new_context, api) -> None:
    """A network that goes away without a word (a train tunnel: no `offline` event, no close) for 40 s,
    far past the server's ping timeout: the tab reconnects by itself once it returns, with no reload, shows
    what the others did meanwhile, and the move it made in the dark lands exactly once."""
    s = h.create_session(api)
    ctx = new_context()
    connection = h.DeadSocket(ctx)
    page = h.join(ctx, s.code, "Tam")
    watcher = h.join(new_context(), s.code, "Uma")
    pid = h.participants(page)["Tam"]["id"]
    other = page.locator(
        f'[data-testid=participant][data-participant-id="{h.participants(watcher)["Uma"]["id"]}"]'
    )
    card = h.pile_cards(page, "unsorted")[0]

    connection.dead = connection.deaf = True  # both ways: frames vanish, the socket still looks open
    h.move(page, card, "very-important")  # shown at once, queued
    h.sort_step1(watcher)
    h.complete_step(watcher, 2)
    page.wait_for_timeout(40_000)  # routed frames flow only inside Playwright calls: wait inside one
    expect(other).to_have_attribute("data-step", "1")  # nothing reached the dark tab

    connection.dead = connection.deaf = False
    expect(other).to_have_attribute("data-step", "2", timeout=BACK_TIMEOUT_MS)
    _wait_sent(page, s.code)
    _assert_landed_once(api, s, pid, [(card, "very-important")], 0)
    _agree(api, s, page, pid, [watcher])
