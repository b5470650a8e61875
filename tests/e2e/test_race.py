"""The bug Cardsort exists to kill: participants seeing each other's step flip back and forth.

Four participants, one browser context each. In every tab a MutationObserver records every value each
participant's `data-step` ever shows. They sort, then finish steps with interleaved and simultaneous
clicks. No recorded sequence may ever go backwards, and at rest every tab and the REST state agree.
"""

from __future__ import annotations

import time

from playwright.sync_api import expect

from tests.e2e import helpers as h

NAMES = ["Ada", "Ben", "Cyd", "Dov"]


def _click_all_at_once(pages, testid: str) -> None:
    at = pages[0].evaluate("Date.now()") + 300
    for page in pages:
        page.evaluate(
            """([id, at]) => setTimeout(() => document.querySelector(`[data-testid="${id}"]`).click(),
                                        Math.max(0, at - Date.now()))""",
            [testid, at],
        )


def test_steps_never_flicker_across_four_browsers(new_context, api) -> None:
    s = h.create_session(api)
    pages = [h.join(new_context(), s.code, name, record_steps=True) for name in NAMES]
    for page in pages:
        expect(page.locator("[data-testid=participants] [data-testid=participant]")).to_have_count(4)

    # Step 1, interleaved: one card per participant in turn.
    piles = ["very-important", "important", "not-important"]
    unsorted = {name: h.pile_cards(p, "unsorted") for name, p in zip(NAMES, pages, strict=True)}
    for i in range(len(unsorted[NAMES[0]])):
        for name, page in zip(NAMES, pages, strict=True):
            h.move(page, unsorted[name][i], piles[i % 3], wait=False)
    for page in pages:
        expect(page.locator('[data-testid=board] [data-pile="unsorted"] [data-testid=card]')).to_have_count(0)

    # Everyone finishes step 1 at the same instant, twice (the second click is a refused repeat).
    _click_all_at_once(pages, "complete-step")
    _click_all_at_once(pages, "complete-step")
    for page in pages:
        expect(page.get_by_test_id("board")).to_have_attribute("data-step", "2")

    # Step 2 interleaved with others finishing: Ada and Ben race ahead while Cyd and Dov still pick.
    for page in pages[:2]:
        h.pick(page, "top8", 8)
    _click_all_at_once(pages[:2], "complete-step")
    for page in pages[2:]:
        h.pick(page, "top8", 8)
    for page in pages[:2]:
        expect(page.get_by_test_id("board")).to_have_attribute("data-step", "3")
        h.pick(page, "top3", 3)
    # Ada finishes step 3 while Cyd and Dov finish step 2, all in the same instant.
    _click_all_at_once([pages[0], pages[2], pages[3]], "complete-step")
    h.complete_step(pages[1], 4)
    for page in pages[2:]:
        expect(page.get_by_test_id("board")).to_have_attribute("data-step", "3")
        h.pick(page, "top3", 3)
    _click_all_at_once(pages[2:], "complete-step")

    expected = {name: "4" for name in NAMES}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        views = [{n: v["step"] for n, v in h.participants(p).items()} for p in pages]
        if all(v == expected for v in views):
            break
        time.sleep(0.2)
    rest = {p["name"]: str(p["step"]) for p in h.rest_state(api, s)["participants"]}
    assert rest == expected
    for page, name in zip(pages, NAMES, strict=True):
        assert {n: v["step"] for n, v in h.participants(page).items()} == expected, name
        history = h.step_history(page)
        assert set(history) == set(NAMES), history
        for person, seen in history.items():
            assert seen == sorted(seen, key=int), f"{name}'s tab saw {person} go {seen}"
            assert seen[-1] == "4"
