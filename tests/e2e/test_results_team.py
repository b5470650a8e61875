"""The results page shows the team values the group agreed on, in their order, once the board is locked."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import expect

from tests.e2e import helpers as h
from tests.e2e.test_team import finish_and_reveal, menu_move, open_board, open_team, rest_team


def shots(tmp_path: Path) -> Path:
    """Where the screenshots go (to look at them: CARDSORT_SCREENSHOTS=dir)."""
    target = Path(os.environ.get("CARDSORT_SCREENSHOTS", tmp_path))
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_the_results_page_lists_the_locked_team_values_in_order(new_context, api, tmp_path) -> None:
    s = h.create_session(api, title="Offsite")
    ctx = new_context(viewport={"width": 1280, "height": 1100})
    ann = h.join(ctx, s.code, "Ann")
    finish_and_reveal(ann, 0)
    dashboard = new_context().new_page()
    dashboard.goto(f"/s/{s.code}/facilitate?key={s.key}")
    open_board(api, dashboard)
    team = open_team(ctx, s.code)
    candidates = h.eventually(lambda: rest_team(api, s), lambda t: len(t["candidates"]) == 3, "3 candidates")[
        "candidates"
    ]

    # Three values in an order that is not the candidates' order, then one reordered by the menu.
    c0, c1, c2 = candidates
    for card, count in ((c2, 1), (c0, 2), (c1, 3)):
        menu_move(team, card, "move-to-team-values")
        h.eventually(lambda: rest_team(api, s), lambda t, n=count: len(t["values"]) == n, f"{count} values")
    menu_move(team, c1, "move-up")
    final = [c2, c1, c0]
    h.eventually(lambda: rest_team(api, s)["values"], lambda v: v == final, "the reordered values")

    # Before the lock the results page says the values are not final yet. The facilitator goes there by the
    # dashboard's link (this browser holds the key since the dashboard took it out of the address).
    expect(dashboard.get_by_test_id("results-link")).to_be_visible(timeout=h.BOARD_TIMEOUT_MS)
    results = dashboard.context.new_page()
    results.goto(f"/s/{s.code}/results")
    card = results.get_by_test_id("team-values-result")
    expect(card).to_contain_text("not locked yet", timeout=h.BOARD_TIMEOUT_MS)

    dashboard.get_by_test_id("team-lock").click()
    h.eventually(lambda: rest_team(api, s), lambda t: t["locked"], "the lock")
    results.reload()
    expect(card).to_contain_text("Our team values", timeout=h.BOARD_TIMEOUT_MS)
    values = card.get_by_test_id("team-value")
    expect(values).to_have_count(3)
    assert [v.get_attribute("data-card-id") for v in values.all()] == final
    assert [v.get_attribute("data-rank") for v in values.all()] == ["1", "2", "3"]
    # Each shows its rank and the card's label as the team board showed it.
    for i, (v, cid) in enumerate(zip(values.all(), final, strict=True), 1):
        label = team.locator(f'[data-pile="team-values"] [data-card-id="{cid}"]').inner_text().splitlines()[0]
        assert v.inner_text().startswith(f"{i}. "), v.inner_text()
        assert label.strip() and label.strip() in v.inner_text(), (label, v.inner_text())
    results.screenshot(path=str(shots(tmp_path) / "results-page.png"), full_page=True)


def test_the_results_page_opened_with_the_key_in_its_address_stays_the_results_page(new_context, api) -> None:
    """`/s/{code}/results?key=…` (a link the facilitator kept) takes the key out of the address like the
    dashboard does, and lands on the results page, not on the dashboard."""
    s = h.create_session(api, title="Results link")
    page = new_context().new_page()
    page.goto(f"/s/{s.code}/results?key={s.key}")
    expect(page.get_by_test_id("results")).to_be_visible(timeout=h.BOARD_TIMEOUT_MS)
    expect(page).to_have_url(f"{page.url.split('/s/')[0]}/s/{s.code}/results")
    assert s.key not in page.url
    expect(page.get_by_test_id("dashboard")).to_have_count(0)
