"""The dashboard's replay in a real browser (DESIGN §5b `replay-slider`, `replay-view`): at the head it shows
the live table's rows, scrubbed back it shows the session as the log says it was, the live table keeps
updating meanwhile, and play / pause / speed move the position.

The expected past comes from the log itself (REST `/events`), folded here by hand: an oracle that shares
no code with the reducers the replay uses.
"""

from __future__ import annotations

import time
from collections import Counter

from playwright.sync_api import Page, expect

from tests.e2e import helpers as h
from tests.e2e.test_results_team import shots
from tests.e2e.test_team import finish_and_reveal, menu_move, open_board, open_team

PILES = ["unsorted", "very-important", "important", "not-important", "top8", "top3"]
DECK_SIZE = 12  # values-mini

#: Every `participant` row under a container: its data attributes and the text of each cell.
ROWS_JS = """(container) => Array.from(document.querySelectorAll(
    `[data-testid=${container}] [data-testid=participant]`)).map((r) => ({
        id: r.getAttribute("data-participant-id"),
        name: r.getAttribute("data-participant-name"),
        step: r.getAttribute("data-step"),
        online: r.getAttribute("data-online"),
        cells: Array.from(r.querySelectorAll("td")).map((c) => c.innerText.trim()),
    }))"""


def rows(page: Page, container: str) -> list[dict]:
    return page.evaluate(ROWS_JS, container)


def replay_seq(page: Page) -> int:
    return int(page.get_by_test_id("replay-view").get_attribute("data-seq") or "-1")


def past(log: list[dict], seq: int, names: dict[str, str]) -> dict[str, dict]:
    """Each participant's step and pile counts right after `seq` by name, folded from the log's events."""
    people: dict[str, dict] = {}
    for e in log:
        if e["seq"] > seq:
            break
        who, p = e["participantId"], e["payload"]
        if e["type"] == "PARTICIPANT_JOINED":
            people[who] = {"step": 1, "counts": Counter({"unsorted": DECK_SIZE})}
        elif e["type"] == "STEP_TRANSITIONED":
            people[who]["step"] = p["toStep"]
        elif e["type"] == "CARD_MOVED":
            people[who]["counts"][p["fromPile"]] -= 1
            people[who]["counts"][p["toPile"]] += 1
    return {names[who]: v for who, v in people.items()}


def first_seq(log: list[dict], who: str, kind: str) -> int:
    return next(e["seq"] for e in log if e["participantId"] == who and e["type"] == kind)


def counts_shown(row: dict) -> list[str]:
    """The pile-count cells of a `participant` row (after name, step and the sorted bar), in PILES order."""
    return row["cells"][3 : 3 + len(PILES)]


def scrub_to(dash: Page, seq: int) -> None:
    dash.get_by_test_id("replay-slider").fill(str(seq))
    expect(dash.get_by_test_id("replay-view")).to_have_attribute("data-seq", str(seq))


def choose_speed(dash: Page, speed: int) -> None:
    dash.get_by_test_id("replay-speed").click()
    dash.get_by_role("option", name=str(speed), exact=True).click()
    expect(dash.get_by_test_id("replay-speed")).to_have_text(str(speed))


def test_replay_shows_the_live_rows_at_the_head_and_the_log_s_past_when_scrubbed(
    new_context, api, tmp_path
) -> None:
    s = h.create_session(api, title="Replay")
    dash = new_context(viewport={"width": 1280, "height": 1000}).new_page()
    dash.goto(f"/s/{s.code}/facilitate?key={s.key}")
    expect(dash.get_by_test_id("replay-slider")).to_be_visible(timeout=h.BOARD_TIMEOUT_MS)

    # Ann sorts, picks, finishes and reveals her top 3; then Bo joins and sorts; the team board opens and
    # Ann moves a card onto it.
    ann_ctx = new_context(viewport={"width": 1280, "height": 1100})
    ann = h.join(ann_ctx, s.code, "Ann")
    finish_and_reveal(ann, 0)
    bo = h.join(new_context(), s.code, "Bo")
    h.sort_step1(bo)
    h.complete_step(bo, 2)
    open_board(api, dash)
    team = open_team(ann_ctx, s.code)
    first_value = h.rest_state(api, s)["team"]["candidates"][0]
    menu_move(team, first_value, "move-to-team-values")
    state = h.eventually(
        lambda: h.rest_state(api, s), lambda st: st["team"]["values"] == [first_value], "the team move"
    )
    head = state["version"]
    names = {p["id"]: p["name"] for p in state["participants"]}
    bo_id = next(i for i, n in names.items() if n == "Bo")
    log = h.events(api, s)
    assert [e["seq"] for e in log] == list(range(1, head + 1))

    # (a) At the head the replay shows exactly the live table's rows. The slider's range follows the live
    # log, so End reaches the newest event.
    slider = dash.get_by_test_id("replay-slider")
    expect(slider).to_have_attribute("max", str(head))
    slider.focus()
    dash.keyboard.press("End")
    expect(dash.get_by_test_id("replay-view")).to_have_attribute("data-seq", str(head))
    live = h.eventually(lambda: rows(dash, "participants"), lambda r: len(r) == 2, "two live rows")
    h.eventually(
        lambda: rows(dash, "replay-view"), lambda r: r == live, "the replay's rows equal the live rows"
    )
    assert {r["name"]: r["step"] for r in live} == {"Ann": "4", "Bo": "2"}
    expect(dash.get_by_test_id("replay-team-values")).not_to_contain_text("none yet")

    # (b) Scrubbed back to just before Bo finished step 1: the rows are what the log says they were then.
    before = first_seq(log, bo_id, "STEP_TRANSITIONED") - 1
    scrub_to(dash, before)
    want = past(log, before, names)
    assert want["Bo"]["step"] == 1 and want["Ann"]["step"] == 4
    shown = h.eventually(
        lambda: rows(dash, "replay-view"),
        lambda r: {x["name"]: x["step"] for x in r} == {"Ann": "4", "Bo": "1"},
        "the replay at the seq before Bo's step",
    )
    for row in shown:
        assert counts_shown(row) == [str(want[row["name"]]["counts"][p]) for p in PILES], row
    # Each participant's piles are folded under a one-line headline (a 30-person session stays readable).
    ann_piles = dash.locator('[data-testid=replay-piles][data-participant-name="Ann"]')
    bo_piles = dash.locator('[data-testid=replay-piles][data-participant-name="Bo"]')
    expect(ann_piles.locator("summary")).to_contain_text("Ann · Top 3: ")
    expect(bo_piles.locator("summary")).to_contain_text(f"Bo · {DECK_SIZE} of {DECK_SIZE} cards sorted")
    expect(bo_piles.locator("p").first).to_be_hidden()
    bo_piles.locator("summary").click()
    expect(bo_piles.locator("p")).to_have_count(sum(1 for n in want["Bo"]["counts"].values() if n))
    expect(bo_piles.locator("p").first).to_be_visible()
    # The team board was not open yet.
    expect(dash.get_by_test_id("replay-team-values")).to_contain_text("none yet")
    # ... and before Bo joined, only Ann is there.
    scrub_to(dash, first_seq(log, bo_id, "PARTICIPANT_JOINED") - 1)
    h.eventually(lambda: [r["name"] for r in rows(dash, "replay-view")], lambda n: n == ["Ann"], "Ann alone")
    scrub_to(dash, before)
    expect(dash.locator("[data-testid=replay-view] [data-testid=participant]")).to_have_count(2)
    replay_before = rows(dash, "replay-view")
    dash.get_by_test_id("replay-view").screenshot(path=str(shots(tmp_path) / "replay-panel.png"))

    # (c) The live view is untouched while scrubbing: Bo moves a card and Cy joins; the live table shows both,
    # the replay stays where it was.
    card = h.pile_cards(bo, "very-important")[0]
    h.move(bo, card, "top8")
    cy = h.join(new_context(), s.code, "Cy")
    now = h.eventually(lambda: h.rest_state(api, s), lambda st: len(st["participants"]) == 3, "Cy joined")
    h.eventually(
        lambda: {r["name"]: counts_shown(r)[PILES.index("top8")] for r in rows(dash, "participants")},
        lambda c: c == {"Ann": "5", "Bo": "1", "Cy": "0"},  # Ann: 8 picked, 3 of them moved on to top3
        "the live table with Bo's move and Cy",
    )
    expect(slider).to_have_attribute("max", str(now["version"]))
    assert replay_seq(dash) == before and slider.input_value() == str(before)
    assert rows(dash, "replay-view") == replay_before
    assert cy.get_by_test_id("board").is_visible()

    # (d) Play advances the position, pause stops it; a faster speed advances faster and stops at the head.
    scrub_to(dash, 1)
    choose_speed(dash, 1)
    dash.get_by_test_id("replay-play").click()
    h.eventually(lambda: replay_seq(dash), lambda q: q > 1, "playback to advance", timeout_s=10)
    time.sleep(2)
    dash.get_by_test_id("replay-play").click()  # pause
    expect(dash.get_by_test_id("replay-play")).to_have_text("Play")
    slow = replay_seq(dash)
    time.sleep(1.5)
    assert replay_seq(dash) == slow, "the replay moved while paused"
    # One event a second: a few seconds of play moved a few events, nowhere near the head.
    assert 2 <= slow <= 12 < head // 2, (slow, head)
    choose_speed(dash, 100)
    dash.get_by_test_id("replay-play").click()
    head = h.rest_state(api, s)["version"]
    h.eventually(lambda: replay_seq(dash), lambda q: q == head, "playback to reach the head", timeout_s=10)
    expect(dash.get_by_test_id("replay-play")).to_have_text("Play")  # it stopped by itself
    time.sleep(0.6)
    assert replay_seq(dash) == head
    h.eventually(
        lambda: rows(dash, "replay-view"), lambda r: r == rows(dash, "participants"), "head rows again"
    )
