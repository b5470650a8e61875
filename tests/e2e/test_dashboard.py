"""The facilitator's dashboard: live progress, reveals, reveal-all, the event log; the key gates it."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e import helpers as h


def test_the_facilitator_sees_steps_and_reveals_as_they_happen(new_context, api) -> None:
    s = h.create_session(api, title="Board retreat")
    dash = new_context().new_page()
    dash.add_init_script(h.STEP_RECORDER)
    dash.goto(f"/s/{s.code}/facilitate?key={s.key}")
    expect(dash.get_by_test_id("dashboard")).to_be_visible()
    expect(dash.get_by_test_id("session-code")).to_have_text(s.code)

    kim = h.join(new_context(), s.code, "Kim")
    lou = h.join(new_context(), s.code, "Lou")
    row = dash.locator('[data-testid=participants] [data-testid=participant][data-participant-name="Kim"]')
    expect(row).to_have_attribute("data-step", "1")
    expect(row).to_have_attribute("data-online", "true")

    h.sort_step1(kim)
    h.complete_step(kim, 2)
    expect(row).to_have_attribute("data-step", "2")
    h.pick(kim, "top8", 8)
    h.complete_step(kim, 3)
    expect(row).to_have_attribute("data-step", "3")
    kim.get_by_test_id("reveal-selection").click()
    expect(
        dash.locator(
            '[data-testid=reveal][data-participant-name="Kim"][data-reveal-type=top8] [data-testid=card]'
        )
    ).to_have_count(8)
    # The newest entry of the live log is the reveal.
    expect(dash.locator("[data-testid=event-row]").first).to_have_attribute("data-type", "SELECTION_REVEALED")

    # Reveal-all reveals what can be revealed (Lou is still sorting) and everyone sees it.
    h.pick(kim, "top3", 3)
    h.complete_step(kim, 4)
    dash.get_by_test_id("reveal-all").click()
    expect(
        lou.locator(
            '[data-testid=reveal][data-participant-name="Kim"][data-reveal-type=top3] [data-testid=card]'
        )
    ).to_have_count(3)
    assert {(r["participantName"], r["revealType"]) for r in h.rest_state(api, s)["reveals"]} == {
        ("Kim", "top8"),
        ("Kim", "top3"),
    }

    # Lou closes the browser: offline within seconds, and no duplicate appears.
    lou.context.close()
    lou_row = dash.locator('[data-testid=participant][data-participant-name="Lou"]')
    expect(lou_row).to_have_attribute("data-online", "false", timeout=10_000)
    expect(dash.locator("[data-testid=participants] [data-testid=participant]")).to_have_count(2)
    assert h.step_history(dash)["Kim"] == ["1", "2", "3", "4"]


def test_the_dashboard_needs_the_key(new_context, api) -> None:
    s = h.create_session(api)
    page = new_context().new_page()
    page.goto(f"/s/{s.code}/facilitate?key=wrong")
    expect(page.get_by_test_id("forbidden")).to_be_visible()
    expect(page.get_by_test_id("dashboard")).to_have_count(0)


def _log_seqs(page) -> list[int]:
    return [
        int(s)
        for s in page.locator("[data-testid=event-row]").evaluate_all("rs => rs.map(r => r.dataset.seq)")
    ]


def test_the_event_log_lists_every_event_newest_first_live_and_after_a_reload(new_context, api) -> None:
    """The log's rows reach the dashboard as rows of the facilitator's live feed: each carries its own
    event's seq (and type), newest first, while events happen, and the same after a reload (read from the
    log) and on a dashboard opened later."""
    s = h.create_session(api)
    dash = new_context().new_page()
    dash.goto(f"/s/{s.code}/facilitate?key={s.key}")
    expect(dash.get_by_test_id("dashboard")).to_be_visible()
    kim = h.join(new_context(), s.code, "Kim")
    h.sort_step1(kim)
    h.complete_step(kim, 2)
    log = h.eventually(
        lambda: h.events(api, s), lambda es: es[-1]["type"] == "STEP_TRANSITIONED", "the step change appended"
    )
    version = log[-1]["seq"]
    expected = list(range(version, 0, -1))
    types = [e["type"] for e in reversed(log)]
    rows = dash.locator("[data-testid=event-row]")
    expect(rows).to_have_count(len(expected))
    expect(rows.first).to_have_attribute("data-seq", str(version))
    assert _log_seqs(dash) == expected
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.type)") == types
    for page in (dash, new_context().new_page()):
        page.goto(f"/s/{s.code}/facilitate?key={s.key}")
        expect(page.locator("[data-testid=event-row]")).to_have_count(len(expected))
        assert _log_seqs(page) == expected
