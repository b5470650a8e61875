"""Focus sorting (keys, taps, undo, progress; desktop and a 390x844 phone), the whole board by keyboard
alone, and axe-core (axe-playwright-python) on the landing, board, dashboard and results pages."""

from __future__ import annotations

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.e2e import helpers as h

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(autouse=True)
def _patient_expect():
    """The machine is shared with other test runs: wait up to 15 s for what a person would see."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


def create(api: httpx.Client, **options) -> h.Session:
    r = api.post("/api/sessions", json={"deck": "values-mini", "title": "Focus", **options})
    assert r.status_code == 201, r.text
    return h.Session(r.json()["code"], r.json()["facilitatorKey"])


def piles_of(api: httpx.Client, s: h.Session) -> dict[str, list[str]]:
    return next(iter(h.rest_state(api, s)["piles"].values()))


def focus_card(page: Page) -> str:
    return page.get_by_test_id("focus-card").get_attribute("data-card-id") or ""


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_focus_mode_sorts_one_card_at_a_time_with_keys_taps_and_undo(new_context, api, device) -> None:
    s = create(api)
    page = h.join(new_context(**(PHONE if device == "phone" else {})), s.code, "Flo")
    deck = h.pile_cards(page, "unsorted")
    page.get_by_test_id("focus-toggle").click()
    expect(page.get_by_test_id("focus-card")).to_have_attribute("data-card-id", deck[0])
    expect(page.locator("[data-testid=pile]")).to_have_count(0)  # the full board is out of the way

    if device == "phone":  # one thumb: the card and the three buttons fit the screen, tapped
        for pile in ("very-important", "important", "not-important"):
            box = page.get_by_test_id(f"focus-move-{pile}").bounding_box()
            assert box is not None and box["y"] + box["height"] <= 844 and box["height"] >= 44
        page.get_by_test_id("focus-move-very-important").tap()
    else:
        page.keyboard.press("1")
    expect(page.get_by_test_id("focus-card")).to_have_attribute("data-card-id", deck[1])
    page.get_by_test_id("focus-move-important").click()
    expect(page.get_by_test_id("focus-card")).to_have_attribute("data-card-id", deck[2])
    page.keyboard.press("3")
    expect(page.get_by_test_id("focus-card")).to_have_attribute("data-card-id", deck[3])
    expect(page.get_by_test_id("focus-mode")).to_contain_text("3 of 12 sorted")

    page.keyboard.press("u")  # undo: the last card comes back into focus
    expect(page.get_by_test_id("focus-card")).to_have_attribute("data-card-id", deck[2])
    expect(page.get_by_test_id("focus-mode")).to_contain_text("2 of 12 sorted")
    piles = h.eventually(
        lambda: piles_of(api, s), lambda p: p["unsorted"][:1] == [deck[2]], "the undo landed"
    )
    assert piles["very-important"] == [deck[0]] and piles["important"] == [deck[1]]
    assert piles["not-important"] == []

    for i in range(10):
        expected = deck[2 + i]
        expect(page.get_by_test_id("focus-card")).to_have_attribute("data-card-id", expected)
        page.keyboard.press("123"[i % 3])
    expect(page.get_by_test_id("focus-done")).to_be_visible()
    h.eventually(lambda: piles_of(api, s), lambda p: p["unsorted"] == [], "every focus move landed")
    h.complete_step(page, 2)  # step 2 shows the full board again
    expect(page.get_by_test_id("focus-card")).to_have_count(0)
    expect(page.locator('[data-testid=pile][data-pile="top8"]')).to_be_visible()


def test_focus_mode_switches_back_to_the_full_board(new_context, api) -> None:
    s = create(api)
    page = h.join(new_context(), s.code, "Gil")
    page.get_by_test_id("focus-toggle").click()
    expect(page.get_by_test_id("focus-card")).to_be_visible()
    page.keyboard.press("2")
    expect(page.get_by_test_id("focus-mode")).to_contain_text("1 of 12 sorted")
    page.get_by_test_id("focus-toggle").click()
    expect(page.get_by_test_id("focus-card")).to_have_count(0)
    expect(page.locator('[data-testid=pile][data-pile="important"] [data-testid=card]')).to_have_count(1)
    page.keyboard.press("1")  # shortcuts only act in focus mode
    page.wait_for_timeout(500)
    assert piles_of(api, s)["very-important"] == []


def test_the_board_works_with_the_keyboard_alone(new_context, api) -> None:
    s = create(api)
    page = h.join(new_context(), s.code, "Hui")
    first = h.pile_cards(page, "unsorted")[0]
    page.locator("body").click(position={"x": 2, "y": 2})
    for _ in range(40):  # Tab until a card's menu button has the focus
        page.keyboard.press("Tab")
        testid = page.evaluate("document.activeElement && document.activeElement.dataset.testid")
        if testid and testid.startswith("card-menu-"):
            break
    else:
        raise AssertionError("no card-menu reachable by Tab")
    assert testid == f"card-menu-{first}"
    page.keyboard.press("Enter")
    expect(page.locator("[role=menu][data-state=open]")).to_be_visible()
    # The menu takes the focus (its first item) before the arrow key moves it on.
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.getAttribute('role') === 'menuitem'"
    )
    first_item = page.evaluate("document.activeElement.dataset.testid")
    page.keyboard.press("ArrowDown")
    # Radix moves the focus in its own handler: wait for it to land on the next item before reading it.
    page.wait_for_function(
        "(first) => document.activeElement && document.activeElement.getAttribute('role') === 'menuitem'"
        " && document.activeElement.dataset.testid !== first",
        arg=first_item,
    )
    focused = page.evaluate("document.activeElement.dataset.testid")
    target = focused.removeprefix("move-to-")
    page.keyboard.press("Enter")
    expect(h.card_in(page, target, first)).to_be_visible()
    assert first in piles_of(api, s)[target]
    # The step's buttons are reachable too: Tab to complete-step and press it (refused: cards left).
    for _ in range(60):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.dataset.testid") == "complete-step":
            break
    else:
        raise AssertionError("complete-step not reachable by keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("refused-notice")).to_contain_text("left")


def _serious(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_axe_finds_no_serious_violations(new_context, api) -> None:
    s = create(api, pacing="facilitator")
    landing = new_context().new_page()
    landing.goto("/")
    expect(landing.get_by_test_id("join-code")).to_be_visible()
    board = h.join(new_context(), s.code, "Ivo")
    h.move(board, h.pile_cards(board, "unsorted")[0], "important")
    ctx = new_context()
    dash = ctx.new_page()
    dash.goto(f"/s/{s.code}/facilitate?key={s.key}")
    expect(dash.get_by_test_id("dashboard")).to_be_visible()
    dash.get_by_test_id("timer-preset-3").click()
    expect(board.get_by_test_id("timer")).to_be_visible()
    results = ctx.new_page()
    results.goto(f"/s/{s.code}/results")
    expect(results.get_by_test_id("results")).to_be_visible()
    focus = h.join(new_context(**PHONE), s.code, "Jo")
    focus.get_by_test_id("focus-toggle").click()
    expect(focus.get_by_test_id("focus-card")).to_be_visible()
    found = {
        name: _serious(p)
        for name, p in {
            "landing": landing,
            "board": board,
            "dashboard": dash,
            "results": results,
            "focus (phone)": focus,
        }.items()
    }
    assert not any(found.values()), found
