"""The facilitator's workshop in real Chromium: pacing from join to the end, the timer, exports, QR join,
results, anonymity on the wire, custom decks."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import helpers as h


@pytest.fixture(autouse=True)
def _patient_expect():
    """The machine is shared with other test runs: wait up to 15 s for what a person would see."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


def create(api: httpx.Client, **options) -> h.Session:
    r = api.post("/api/sessions", json={"deck": "values-mini", "title": "Workshop", **options})
    assert r.status_code == 201, r.text
    return h.Session(r.json()["code"], r.json()["facilitatorKey"])


def open_dashboard(ctx, s: h.Session) -> Page:
    dash = ctx.new_page()
    dash.goto(f"/s/{s.code}/facilitate?key={s.key}")
    expect(dash.get_by_test_id("dashboard")).to_be_visible()
    return dash


def test_a_facilitator_paced_run_of_three_from_join_to_the_end(new_context, api) -> None:
    s = create(api, pacing="facilitator")
    dash = open_dashboard(new_context(), s)
    people = {name: h.join(new_context(), s.code, name) for name in ("Ada", "Ben", "Cy")}
    for page in people.values():
        expect(page.get_by_test_id("waiting-for-facilitator")).to_have_count(0)  # still sorting: not ahead

    # Step 1: everyone sorts, and waits; pressing "complete" while waiting is no error.
    for page in people.values():
        h.sort_step1(page)
        expect(page.get_by_test_id("waiting-for-facilitator")).to_be_visible()
    ada = people["Ada"]
    ada.get_by_test_id("complete-step").click()
    expect(ada.get_by_test_id("board")).to_have_attribute("data-step", "1")
    expect(ada.get_by_test_id("refused-notice")).to_have_count(0)
    expect(ada.get_by_test_id("conflict-notice")).to_have_count(0)
    assert h.rest_state(api, s)["openStep"] == 1

    # The facilitator opens step 2: everyone can go on.
    dash.get_by_test_id("open-step-2").click()
    expect(dash.get_by_test_id("open-step-2")).to_be_disabled()
    for page in people.values():
        expect(page.get_by_test_id("waiting-for-facilitator")).to_have_count(0)
        expect(page.get_by_test_id("step-opened")).to_contain_text("Step 2 is open")  # press Complete
        h.complete_step(page, 2)
        expect(page.get_by_test_id("step-opened")).to_have_count(0)
        h.pick(page, "top8", 8)
        expect(page.get_by_test_id("waiting-for-facilitator")).to_be_visible()
    assert h.rest_state(api, s)["openStep"] == 2

    dash.get_by_test_id("open-step-3").click()
    for page in people.values():
        expect(page.get_by_test_id("step-opened")).to_contain_text("Step 3 is open")
        h.complete_step(page, 3)
        h.pick(page, "top3", 3)
        h.complete_step(page, 4)  # finishing needs no opening
    rows = dash.locator("[data-testid=participants] [data-testid=participant]")
    expect(rows).to_have_count(3)
    for name in people:
        expect(dash.locator(f'[data-testid=participant][data-participant-name="{name}"]')).to_have_attribute(
            "data-step", "4"
        )

    # Live results on the dashboard equal the counts from REST.
    state = h.rest_state(api, s)
    for card_id, (top3, top8, very) in _counts(state).items():
        row = dash.locator(f'[data-testid=results] [data-testid=result-card][data-card-id="{card_id}"]')
        expect(row).to_have_attribute("data-top3", str(top3))
        expect(row).to_have_attribute("data-top8", str(top8))
        expect(row).to_have_attribute("data-very-important", str(very))

    # The end, confirmed: boards become read-only with the final selection and a summary link.
    dash.get_by_test_id("end-session").click()
    dash.get_by_test_id("confirm-yes").click()
    for name, page in people.items():
        expect(page.get_by_test_id("session-ended")).to_be_visible()
        expect(page.get_by_test_id("complete-step")).to_have_count(0)
        expect(page.locator("[data-testid=summary-top3] [data-testid=card]")).to_have_count(3)
        page.get_by_test_id("summary-link").click()
        expect(page.get_by_test_id("summary")).to_contain_text(name)
    assert h.rest_state(api, s)["ended"] is True
    # Nothing changes in an ended session: the dashboard offers no control that would be refused.
    for control in ("reveal-all", "team-open", "team-lock", "open-step-2", "open-step-3", "timer-start"):
        expect(dash.get_by_test_id(control)).to_be_disabled()


def _counts(state: dict) -> dict[str, tuple[int, int, int]]:
    counts: dict[str, list[int]] = {}
    for piles in state["piles"].values():
        for pile, cards in piles.items():
            for card in cards:
                c = counts.setdefault(card, [0, 0, 0])
                if pile == "top3":
                    c[0] += 1
                if pile in ("top3", "top8"):
                    c[1] += 1
                if pile == "very-important":
                    c[2] += 1
    return {k: (v[0], v[1], v[2]) for k, v in counts.items()}


def test_going_on_while_offline_takes_the_step_opened_notice_away_at_once(new_context, api) -> None:
    """Complete step, pressed offline, shows step 2 at once (queued); the notice that said to press it goes
    with it rather than waiting for the server (it would say "Step 3 is open" on a step-2 board)."""
    s = create(api, pacing="facilitator")
    ctx = new_context()
    network = h.NetworkSwitch(ctx)
    page = h.join(ctx, s.code, "Oona")
    h.sort_step1(page)
    dash = open_dashboard(new_context(), s)
    dash.get_by_test_id("open-step-2").click()
    expect(page.get_by_test_id("step-opened")).to_contain_text("Step 2 is open")
    network.go_offline()
    page.get_by_test_id("complete-step").click()
    expect(page.get_by_test_id("board")).to_have_attribute("data-step", "2")
    expect(page.get_by_test_id("step-opened")).to_have_count(0)
    network.go_online()
    h.eventually(  # after Reflex's reconnect backoff
        lambda: h.rest_state(api, s)["participants"][0]["step"], lambda n: n == 2, "step 2", 45, page
    )
    expect(page.get_by_test_id("step-opened")).to_have_count(0)


def test_an_imported_session_s_dashboard_offers_no_control_that_would_be_refused(new_context, api) -> None:
    s = create(api, pacing="facilitator")
    h.join(new_context(), s.code, "Ada")
    export = api.get(f"/api/sessions/{s.code}/export.json", headers=s.auth).json()
    r = api.post("/api/sessions/import", json=export)
    assert r.status_code == 201, r.text
    imported = h.Session(r.json()["code"], r.json()["facilitatorKey"])
    dash = open_dashboard(new_context(), imported)
    expect(dash.locator("[data-testid=participants] [data-testid=participant]")).to_have_count(1)
    expect(dash.get_by_text("A read-only import")).to_be_visible()
    expect(dash.get_by_test_id("end-session")).to_have_count(0)
    for control in ("reveal-all", "team-open", "open-step-2", "timer-start", "timer-preset-5"):
        expect(dash.get_by_test_id(control)).to_be_disabled()
    expect(dash.get_by_test_id("replay-slider")).to_be_enabled()  # viewing and replaying still work


def test_a_double_click_on_a_dashboard_control_is_one_change_and_no_error(new_context, api) -> None:
    """The second click of a double click comes before the first one's answer disables the button: the
    page's outbox does not send it. (A second tab asking for what already holds is a no-op the service
    acknowledges without an event or an error: `rules.is_noop`, unit-tested.)"""
    s = create(api, pacing="facilitator")
    dash = open_dashboard(new_context(), s)
    expect(dash.get_by_test_id("open-step-2")).to_be_enabled(timeout=30_000)
    dash.get_by_test_id("open-step-2").dblclick()
    expect(dash.get_by_test_id("open-step-2")).to_be_disabled()
    expect(dash.get_by_test_id("commands-pending")).to_have_count(0)
    expect(dash.get_by_test_id("dashboard-message")).to_have_text("Step 2 is open for everyone.")
    dash.get_by_test_id("team-open").dblclick()
    expect(dash.get_by_test_id("team-lock")).to_be_enabled()
    expect(dash.get_by_test_id("commands-pending")).to_have_count(0)
    dash.wait_for_timeout(1000)  # any answer to the second click has arrived
    expect(dash.get_by_test_id("dashboard-message")).to_have_text("The team board is open.")
    dash.get_by_test_id("timer-start").dblclick()  # a second start would restart the timer: one event
    expect(dash.get_by_test_id("timer-add-minute")).to_be_enabled()
    dash.wait_for_timeout(1000)
    types = h.event_types(api, s)
    assert [types.count(t) for t in ("STEP_OPENED", "TEAM_BOARD_OPENED", "TIMER_STARTED")] == [1, 1, 1], types


def test_the_timer_is_the_same_in_two_tabs_and_after_a_reload(new_context, api) -> None:
    s = create(api)
    dash = open_dashboard(new_context(), s)
    ctx = new_context()
    first = h.join(ctx, s.code, "Dee")
    second = h.open_board(ctx, s.code)  # the same participant's second tab
    late = h.join(new_context(), s.code, "Eli")

    dash.get_by_test_id("timer-preset-5").click()
    expect(first.get_by_test_id("timer")).to_be_visible()
    ends_at = h.rest_state(api, s)["timer"]["endsAt"]
    for page in (first, second, late, dash):
        expect(page.get_by_test_id("timer")).to_have_attribute("data-ends-at", str(ends_at))
    expect(first.get_by_test_id("timer")).to_contain_text(re.compile(r"^\s*[45]:\d\d"))
    first.reload()
    expect(first.get_by_test_id("timer")).to_have_attribute("data-ends-at", str(ends_at))
    expect(second.get_by_test_id("timer")).to_have_attribute("data-ends-at", str(ends_at))

    # +1 minute moves the end for everyone; a custom length restarts it; stop removes it.
    dash.get_by_test_id("timer-add-minute").click()
    expect(first.get_by_test_id("timer")).to_have_attribute("data-ends-at", str(ends_at + 60_000))
    dash.get_by_test_id("timer-minutes").fill("2")
    dash.get_by_test_id("timer-start").click()
    expect(second.get_by_test_id("timer")).to_contain_text(re.compile(r"^\s*[12]:\d\d"))
    ends_at = h.rest_state(api, s)["timer"]["endsAt"]
    expect(late.get_by_test_id("timer")).to_have_attribute("data-ends-at", str(ends_at))
    dash.get_by_test_id("timer-stop").click()
    for page in (first, second, late, dash):
        expect(page.get_by_test_id("timer")).to_have_count(0)
    assert h.rest_state(api, s)["timer"] is None


def test_time_is_up_shows_on_the_boards_when_the_countdown_reaches_zero(new_context, api) -> None:
    """The countdown runs in each browser from the log's `endsAt`: at zero every board says "Time is up"
    (the participant keeps working: a timer paces, it never locks). The board's clock is moved past the
    end with Playwright's clock instead of waiting a minute."""
    s = create(api)
    dash = open_dashboard(new_context(), s)
    ctx = new_context()
    ctx.clock.install()  # the page's Date and timers, under the test's control (time still flows)
    board = h.join(ctx, s.code, "Fay")
    dash.get_by_test_id("timer-minutes").fill("1")
    dash.get_by_test_id("timer-start").click()
    timer = board.get_by_test_id("timer")
    expect(timer).to_contain_text(re.compile(r"^\s*[01]:\d\d"))
    ends_at = h.rest_state(api, s)["timer"]["endsAt"]
    expect(timer).to_have_attribute("data-ends-at", str(ends_at))

    ctx.clock.set_system_time(datetime.fromtimestamp((ends_at + 1_000) / 1_000, tz=UTC))
    expect(timer).to_contain_text("Time is up")
    expect(timer.locator('[role="timer"]')).to_have_attribute("data-done", "true")
    card = h.pile_cards(board, "unsorted")[0]  # the board still works after the end
    h.move(board, card, "important")
    h.eventually(
        lambda: h.rest_state(api, s)["piles"],
        lambda p: card in next(iter(p.values()))["important"],
        "the move",
    )
    assert h.rest_state(api, s)["timer"]["endsAt"] == ends_at  # the server's fact did not change


def test_the_csv_link_matches_get_exactly_and_json_is_the_log(new_context, api, app_server) -> None:
    s = create(api)
    dash = open_dashboard(new_context(), s)
    fay = h.join(new_context(), s.code, "Fay")
    gus = h.join(new_context(), s.code, "Gus")
    h.sort_step1(fay)
    h.complete_step(fay, 2)
    h.pick(fay, "top8", 8)
    h.move(gus, h.pile_cards(gus, "unsorted")[0], "important")
    expect(dash.locator('[data-testid=participant][data-participant-name="Fay"]')).to_have_attribute(
        "data-step", "2"
    )
    href = dash.get_by_test_id("export-csv").get_attribute("href")
    assert href and "key=" not in href and s.key not in href  # a short-lived token, never the key
    with httpx.Client(base_url=app_server.url) as anonymous_browser:
        body = anonymous_browser.get(href).text
    state = h.rest_state(api, s)
    assert body.splitlines()[0] == "participant,card_id,card_label,pile,rank"
    rows = list(csv.DictReader(io.StringIO(body)))
    names = {p["id"]: p["name"] for p in state["participants"]}
    expected = [
        (names[pid], card, pile, str(i) if pile in ("top3", "top8") else "")
        for pid in [p["id"] for p in state["participants"]]
        for pile, cards in state["piles"][pid].items()
        for i, card in enumerate(cards, start=1)
    ]
    assert [(r["participant"], r["card_id"], r["pile"], r["rank"]) for r in rows] == expected
    assert all(r["card_label"] for r in rows)
    json_href = dash.get_by_test_id("export-json").get_attribute("href")
    exported = httpx.get(app_server.url + json_href).json()
    assert exported["session"]["participants"] == state["participants"]
    assert [e["seq"] for e in exported["events"]] == list(range(1, state["version"] + 1))


def test_an_ended_board_says_what_was_not_chosen(new_context, api) -> None:
    """A participant who never got to a top 3 sees "None chosen", not headings over nothing."""
    s = create(api)
    dash = open_dashboard(new_context(), s)
    page = h.join(new_context(viewport={"width": 390, "height": 844}, is_mobile=True), s.code, "Ida")
    dash.get_by_test_id("end-session").click()
    dash.get_by_test_id("confirm-yes").click()
    expect(page.get_by_test_id("session-ended")).to_be_visible()
    for section in ("summary-top3", "summary-top8", "summary-very-important"):
        expect(page.get_by_test_id(section)).to_contain_text("None chosen")
        expect(page.locator(f"[data-testid={section}] [data-testid=card]")).to_have_count(0)


def test_clicking_the_export_links_downloads_the_files(new_context, api) -> None:
    """`export-csv` / `export-json` are links a facilitator clicks (DESIGN §5b): the browser downloads the
    file and the dashboard stays put (the client-side router once took them for pages: "404")."""
    s = create(api)
    dash = open_dashboard(new_context(accept_downloads=True), s)
    h.join(new_context(), s.code, "Hedy")
    expect(dash.locator('[data-testid=participant][data-participant-name="Hedy"]')).to_be_visible()
    with dash.expect_download() as csv_download:
        dash.get_by_test_id("export-csv").click()
    lines = Path(csv_download.value.path()).read_text().splitlines()
    assert lines[0] == "participant,card_id,card_label,pile,rank"
    assert len(lines) == 1 + 12 and all(line.startswith("Hedy,") for line in lines[1:])
    with dash.expect_download() as json_download:
        dash.get_by_test_id("export-json").click()
    exported = json.loads(Path(json_download.value.path()).read_text())
    assert [e["type"] for e in exported["events"]] == ["SESSION_CREATED", "PARTICIPANT_JOINED"]
    assert exported["session"]["participants"][0]["name"] == "Hedy"
    assert dash.url.endswith(f"/s/{s.code}/facilitate")
    expect(dash.get_by_test_id("dashboard")).to_be_visible()


def test_join_by_qr_link_prefills_the_code(new_context, api, app_server) -> None:
    s = create(api)
    dash = open_dashboard(new_context(), s)
    qr = dash.get_by_test_id("join-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("el => el.tagName.toLowerCase()") == "svg"
    join_url = dash.get_by_test_id("join-url").inner_text()
    assert join_url == f"{app_server.url}/join/{s.code}"
    phone = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    phone.goto(join_url)
    expect(phone.get_by_test_id("join-code")).to_have_value(s.code)
    phone.get_by_test_id("join-name").fill("Hal")
    phone.get_by_test_id("join-submit").tap()
    expect(phone.get_by_test_id("board")).to_be_visible()
    other = new_context().new_page()
    other.goto(f"/?code={s.code}")
    expect(other.get_by_test_id("join-code")).to_have_value(s.code)


def test_the_results_page_is_for_the_facilitator_and_printable(new_context, api) -> None:
    s = create(api)
    ctx = new_context()
    dash = open_dashboard(ctx, s)
    ivy = h.join(new_context(), s.code, "Ivy")
    h.sort_step1(ivy)
    results = ctx.new_page()  # the same browser: the key it stored opens the results
    results.goto(f"/s/{s.code}/results")
    expect(results.locator("[data-testid=results] [data-testid=result-card]")).to_have_count(12)
    very = h.pile_cards(ivy, "very-important")
    expect(results.locator(f'[data-testid=result-card][data-card-id="{very[0]}"]')).to_have_attribute(
        "data-very-important", "1"
    )
    results.emulate_media(media="print")
    for button in results.locator("button").all():
        assert not button.is_visible()
    stranger = new_context().new_page()
    stranger.goto(f"/s/{s.code}/results")
    expect(stranger.get_by_test_id("forbidden")).to_be_visible()
    expect(stranger.get_by_test_id("result-card")).to_have_count(0)
    assert dash.get_by_test_id("results").is_visible()


def test_an_anonymous_session_never_sends_a_participant_another_ones_name(new_context, api) -> None:
    s = create(api, anonymous=True)
    dash = open_dashboard(new_context(), s)
    frames: list[str] = []
    ctx = new_context()
    ctx_page = ctx.new_page()
    ctx_page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    ctx_page.goto("/")
    ctx_page.get_by_test_id("join-code").fill(s.code)
    ctx_page.get_by_test_id("join-name").fill("Quillon")
    ctx_page.get_by_test_id("join-submit").click()
    expect(ctx_page.get_by_test_id("board")).to_be_visible()
    zed = h.join(new_context(), s.code, "Zebulonia")
    h.sort_step1(zed)
    h.complete_step(zed, 2)
    h.pick(zed, "top8", 8)
    h.complete_step(zed, 3)
    zed.get_by_test_id("reveal-selection").click()
    # Quillon sees Zebulonia's progress and reveal, under a number.
    reveal = ctx_page.locator('[data-testid=reveal][data-reveal-type="top8"]')
    expect(reveal).to_have_attribute("data-participant-name", re.compile(r"^Participant \d+$"))
    expect(
        ctx_page.locator('[data-testid=participants] [data-testid=participant][data-step="3"]')
    ).to_have_attribute("data-participant-name", "Participant 2")
    ctx_page.reload()
    expect(ctx_page.get_by_test_id("board")).to_be_visible()
    expect(ctx_page.locator("[data-testid=reveal]")).to_have_count(1)
    assert frames, "no websocket frames were captured"
    assert any("Participant 2" in f for f in frames)
    assert not [f for f in frames if "Zebulonia" in f]
    assert "Zebulonia" not in ctx_page.content()
    # Only the facilitator sees the real names.
    expect(dash.locator('[data-testid=participant][data-participant-name="Zebulonia"]')).to_have_count(1)
    names = {p["name"] for p in h.rest_state(api, s)["participants"]}
    assert names == {"Quillon", "Zebulonia"}


def test_a_custom_deck_from_a_csv_upload(new_context, api, tmp_path) -> None:
    page = new_context().new_page()
    page.goto("/")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label,description\nok,Fine,\nok,Again,\n")
    page.locator("[data-testid=deck-upload] input[type=file]").set_input_files(str(bad))
    errors = page.get_by_test_id("deck-errors")
    expect(errors).to_contain_text("Row 3: the id 'ok' is already used in row 2")
    expect(errors).to_contain_text("this file has 2")
    big = tmp_path / "big.csv"  # over the dropzone's size: refused in the browser, the message says why
    big.write_text("id,label,description\n" + "".join(f"v{i},Value {i},{'why ' * 60}\n" for i in range(300)))
    page.locator("[data-testid=deck-upload] input[type=file]").set_input_files(str(big))
    expect(errors).to_contain_text("at most 64 KiB")
    good = tmp_path / "deck.csv"
    good.write_text("id,label,description\n" + "".join(f"v{i},Value {i},Why {i}\n" for i in range(10)))
    page.locator("[data-testid=deck-upload] input[type=file]").set_input_files(str(good))
    expect(page.get_by_test_id("deck-ready")).to_contain_text("10 cards")
    expect(page.get_by_test_id("deck-errors")).to_have_count(0)
    page.get_by_test_id("create-session").click()
    code = page.get_by_test_id("session-code").inner_text()
    board = h.join(new_context(), code, "Kai")
    assert h.pile_cards(board, "unsorted") == [f"v{i}" for i in range(10)]
    expect(board.locator('[data-testid=card][data-card-id="v3"]')).to_contain_text("Value 3")
