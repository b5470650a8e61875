"""The team board in real browsers: two people, one card, one outcome; three people fill and reorder it.

Participants sort through the board's own menus, reveal their top 3, then meet on `/s/{code}/team`.
"""

from __future__ import annotations

import time

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e import helpers as h

ROUNDS = 20


def finish_and_reveal(page: Page, offset: int) -> None:
    """Sort, pick a top 8, then the top-8 cards offset..offset+2 as the top 3; finish and reveal."""
    h.sort_step1(page)
    h.complete_step(page, 2)
    h.pick(page, "top8", 8)
    h.complete_step(page, 3)
    for card in h.pile_cards(page, "top8")[offset : offset + 3]:
        h.move(page, card, "top3")
    h.complete_step(page, 4)
    page.get_by_test_id("reveal-selection").click()
    expect(page.locator('[data-testid=reveal][data-reveal-type="top3"]').first).to_be_visible()


def open_team(ctx: BrowserContext, code: str, query: str = "") -> Page:
    page = ctx.new_page()
    page.goto(f"/s/{code}/team{query}")
    expect(page.get_by_test_id("team-board")).to_be_visible(timeout=30_000)  # a busy machine is slow
    return page


def team_cards(page: Page, pile: str) -> list[str]:
    """The card ids of a team pile, in order, read in one go (the list may change while we read)."""
    return page.evaluate(
        """(pile) => Array.from(document.querySelectorAll(
            `[data-testid=team-board] [data-testid=pile][data-pile="${pile}"] [data-testid=card]`
        )).map((c) => c.getAttribute("data-card-id"))""",
        pile,
    )


def view(page: Page) -> dict[str, list[str]]:
    return {"candidates": team_cards(page, "candidates"), "values": team_cards(page, "team-values")}


def rest_team(api, session: h.Session) -> dict:
    return h.rest_state(api, session)["team"]


def converge(api, session: h.Session, pages: list[Page], timeout: float = 15) -> dict:
    """Wait until every page shows exactly what REST says; returns the REST team board."""
    deadline = time.monotonic() + timeout
    while True:
        rest = rest_team(api, session)
        want = {"candidates": rest["candidates"], "values": rest["values"]}
        views = [view(p) for p in pages]
        if all(v == want for v in views):
            return rest
        if time.monotonic() > deadline:
            raise AssertionError(f"views never converged on {want}: {views}")
        time.sleep(0.1)


def menu_move(page: Page, card_id: str, action: str) -> None:
    page.get_by_test_id(f"card-menu-{card_id}").click()
    page.locator(f'[role=menu][data-state=open] [data-testid="{action}"]').click()


def open_board(api, dashboard: Page) -> None:
    expect(dashboard.get_by_test_id("team-open")).to_be_enabled(timeout=30_000)  # the dashboard loaded
    dashboard.get_by_test_id("team-open").click()
    expect(dashboard.get_by_test_id("team-open")).to_be_disabled()


def test_two_people_moving_the_same_card_at_the_same_moment_end_with_one_outcome(new_context, api) -> None:
    s = h.create_session(api)
    ann_ctx = new_context(viewport={"width": 1280, "height": 1100})
    bo_ctx = new_context(viewport={"width": 1280, "height": 1100})
    boards = [h.join(ann_ctx, s.code, "Ann"), h.join(bo_ctx, s.code, "Bo")]
    for board, offset in zip(boards, (0, 3), strict=True):
        finish_and_reveal(board, offset)
    dashboard = new_context().new_page()
    dashboard.goto(f"/s/{s.code}/facilitate?key={s.key}")
    open_board(api, dashboard)
    expect(boards[0].get_by_test_id("team-board-link")).to_be_visible()

    ann, bo = open_team(ann_ctx, s.code), open_team(bo_ctx, s.code)
    ann.evaluate("window.__cardsortDebugDnd = []")  # the drag wrapper records each drop it saw
    facilitator = open_team(new_context(), s.code, f"?key={s.key}")
    pages = [ann, bo, facilitator]
    start = converge(api, s, pages)
    card = start["candidates"][0]
    winners = {"Ann": 0, "Bo": 0}

    for round_no in range(ROUNDS):
        print(f"round {round_no}", flush=True)
        before = rest_team(api, s)
        to_values = card in before["candidates"]
        target_pile, action = (
            ("team-values", "move-to-team-values") if to_values else ("candidates", "move-to-candidates")
        )
        # Bo opens the card's menu and arms a click on the item for instant T ...
        bo.get_by_test_id(f"card-menu-{card}").click()
        item = f'[role=menu][data-state=open] [data-testid="{action}"]'
        expect(bo.locator(item)).to_be_visible()
        # ... while Ann picks the same card up with the mouse and holds it over the other pile.
        source = ann.locator(f'[data-testid=card][data-card-id="{card}"]')
        target = ann.locator(f'[data-testid=pile][data-pile="{target_pile}"]')
        box, tbox = source.bounding_box(), target.bounding_box()
        assert box and tbox
        x0, y0 = box["x"] + 30, box["y"] + 12
        x1, y1 = tbox["x"] + tbox["width"] / 2, tbox["y"] + tbox["height"] - 40
        ann.mouse.move(x0, y0)
        ann.mouse.down()
        for i in range(1, 11):
            ann.mouse.move(x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10)
        # The drag is live and the pile under the pointer knows it (dnd-kit measures asynchronously).
        expect(target).to_have_attribute("data-over", "true")
        at = time.time() + 0.25
        bo.evaluate(
            """([sel, at]) => setTimeout(() => document.querySelector(sel).click(),
                                        Math.max(0, at - Date.now()))""",
            [item, at * 1000],
        )
        # Ann lets go ~10 ms after Bo's click: both moves are on their way before either can hear of the
        # other (a move takes longer than that to be sequenced and pushed back).
        time.sleep(max(0.0, at + 0.01 - time.time()))
        ann.mouse.up()

        after = converge(api, s, pages)
        assert (card in after["values"]) == to_values, f"round {round_no}: the card did not move at all"
        # Exactly one of the two lost the race, and is told who won.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            shown = [p.get_by_test_id("conflict-notice").count() for p in (ann, bo)]
            if sum(shown):
                break
            time.sleep(0.05)
        time.sleep(0.3)  # a second notice, if any, would have arrived by now
        shown = [p.get_by_test_id("conflict-notice").count() for p in (ann, bo)]
        if shown not in ([1, 0], [0, 1]):
            log = api.get(f"/api/sessions/{s.code}/events?after=0&limit=1000", headers=s.auth).json()
            print([(e["seq"], e["participantId"], e["payload"]) for e in log["events"][-3:]])
            print("Ann's drops:", ann.evaluate("window.__cardsortDebugDnd"))
        assert shown in ([1, 0], [0, 1]), f"round {round_no}: notices {shown}"
        loser = ann if shown[0] else bo
        winner = "Bo" if shown[0] else "Ann"
        winners[winner] += 1
        expect(loser.get_by_test_id("conflict-notice")).to_contain_text(f"{winner} moved")
        assert facilitator.get_by_test_id("conflict-notice").count() == 0
        loser.get_by_test_id("conflict-notice").click()  # dismiss
        expect(loser.get_by_test_id("conflict-notice")).to_have_count(0)
        assert view(ann) == view(bo) == view(facilitator)

    print(f"race winners over {ROUNDS} rounds: {winners}")
    events = api.get(f"/api/sessions/{s.code}/events?after=0&limit=1000", headers=s.auth).json()["events"]
    moves = [e for e in events if e["type"] == "TEAM_CARD_MOVED"]
    assert len(moves) == ROUNDS  # one move per round was sequenced, the other refused


def test_three_people_fill_and_reorder_the_team_values(new_context, api) -> None:
    s = h.create_session(api)
    names = ["Ann", "Bo", "Cy"]
    ctxs = [new_context(viewport={"width": 1280, "height": 1100}) for _ in names]
    boards = [h.join(ctx, s.code, name) for ctx, name in zip(ctxs, names, strict=True)]
    for board, offset in zip(boards, (0, 3, 5), strict=True):
        finish_and_reveal(board, offset)
    dashboard = new_context().new_page()
    dashboard.goto(f"/s/{s.code}/facilitate?key={s.key}")
    expect(dashboard.get_by_test_id("team-lock")).to_be_disabled(timeout=30_000)  # the dashboard loaded
    open_board(api, dashboard)
    pages = [open_team(ctx, s.code) for ctx in ctxs]
    ann, bo, cy = pages
    rest = converge(api, s, pages)
    assert len(rest["candidates"]) == 8 and rest["values"] == [] and rest["open"] and not rest["locked"]
    # An empty pile says what fills it; a pile with cards does not.
    empty = '[data-pile="{}"] [data-testid=pile-empty]'
    expect(ann.locator(empty.format("team-values"))).to_contain_text("None agreed yet")
    expect(ann.locator(empty.format("candidates"))).to_have_count(0)

    # Everyone adds cards in turn until the team values hold five.
    for i, page in enumerate([ann, bo, cy, ann, bo]):
        card = converge(api, s, pages)["candidates"][0]
        menu_move(page, card, "move-to-team-values")
        expect(
            pages[(i + 1) % 3].locator(f'[data-pile="team-values"] [data-card-id="{card}"]')
        ).to_be_visible()
    rest = converge(api, s, pages)
    assert len(rest["values"]) == 5
    expect(ann.locator(empty.format("team-values"))).to_have_count(0)
    # Who made each move shows on the card for everyone.
    first = rest["values"][0]
    expect(cy.locator(f'[data-pile="team-values"] [data-card-id="{first}"]')).to_have_attribute(
        "data-moved-by", "Ann"
    )

    # A sixth card is refused with a clear message; nothing changes anywhere.
    sixth = rest["candidates"][0]
    menu_move(cy, sixth, "move-to-team-values")
    expect(cy.get_by_test_id("conflict-notice")).to_contain_text("full (5)")
    assert converge(api, s, pages)["values"] == rest["values"]

    # Reorder: Bo moves the first card down, Ann moves the last one up, Cy drags the 4th to the top.
    v = rest["values"]
    menu_move(bo, v[0], "move-down")
    expect(ann.locator('[data-pile="team-values"] [data-testid=card]').first).to_have_attribute(
        "data-card-id", v[1]
    )
    menu_move(ann, v[4], "move-up")
    expected = [v[1], v[0], v[2], v[4], v[3]]
    assert converge(api, s, pages)["values"] == expected
    source = cy.locator(f'[data-pile="team-values"] [data-card-id="{expected[3]}"]')
    target = cy.locator(f'[data-pile="team-values"] [data-card-id="{expected[0]}"]')
    box, tbox = source.bounding_box(), target.bounding_box()
    assert box and tbox
    cy.mouse.move(box["x"] + 30, box["y"] + 12)
    cy.mouse.down()
    for i in range(1, 11):
        cy.mouse.move(
            box["x"] + 30 + (tbox["x"] + 30 - box["x"] - 30) * i / 10,
            box["y"] + 12 + (tbox["y"] + 20 - box["y"] - 12) * i / 10,
        )
    cy.mouse.up()
    expected = [expected[3], expected[0], expected[1], expected[2], expected[4]]
    assert converge(api, s, pages)["values"] == expected
    expect(bo.get_by_test_id("team-last-move")).to_contain_text("Cy moved")

    # The facilitator locks the board: read-only everywhere, the dashboard lists the final values.
    dashboard.get_by_test_id("team-lock").click()
    for page in pages:
        expect(page.get_by_test_id("team-board")).to_have_attribute("data-locked", "true")
        expect(page.locator("[data-testid^=card-menu-]")).to_have_count(0)
    rest = rest_team(api, s)
    assert rest["locked"] and rest["values"] == expected
    expect(dashboard.get_by_test_id("team-values-summary").locator("span")).to_have_count(5)
    # The session ends: each participant's final view ends with the team's values, in their order.
    dashboard.get_by_test_id("end-session").click()
    dashboard.get_by_test_id("confirm-yes").click()
    labels = dashboard.get_by_test_id("team-values-summary").locator("span").all_inner_texts()
    assert len(labels) == 5 and labels[0].startswith("1. ")
    for board in boards:
        expect(board.get_by_test_id("summary-team-values").locator("span")).to_have_text(labels)


def test_a_team_move_made_into_a_dead_connection_lands_once_it_reconnects(new_context, api) -> None:
    """Reflex sends an event at most once: a move sent into a connection that died without closing never
    reaches the server. The page's outbox keeps it, says it waits (`commands-pending`), and sends it again
    once the tab reconnects; the log stores it once."""
    s = h.create_session(api)
    ctx = new_context()
    board = h.join(ctx, s.code, "Lia")
    finish_and_reveal(board, 0)
    dashboard = new_context().new_page()
    dashboard.goto(f"/s/{s.code}/facilitate?key={s.key}")
    open_board(api, dashboard)
    connection = h.DeadSocket(ctx)
    page = open_team(ctx, s.code)
    card, second = team_cards(page, "candidates")[:2]

    connection.dead = True
    menu_move(page, card, "move-to-team-values")
    expect(page.get_by_test_id("commands-pending")).to_be_visible(timeout=10_000)
    # Past the outbox's resend interval (its copies are swallowed too), within the server's ping timeout
    # (a socket dead longer is closed by the server, and Reflex's client may then not reconnect by itself).
    page.wait_for_timeout(3000)
    assert rest_team(api, s)["values"] == []
    connection.drop()  # the browser finally closes the dead socket; the tab reconnects and sends it again
    h.eventually(lambda: rest_team(api, s)["values"], lambda v: v == [card], "the move stored", 30, page)
    assert converge(api, s, [page])["values"] == [card]
    expect(page.get_by_test_id("commands-pending")).to_have_count(0)
    expect(page.get_by_test_id("conflict-notice")).to_have_count(0)  # it landed: nothing to report

    connection.deaf = True  # the next move arrives, but its acknowledgement is lost: it is sent again
    menu_move(page, second, "move-to-team-values")
    h.eventually(lambda: rest_team(api, s)["values"], lambda v: v == [card, second], "the move", 15, page)
    expect(page.get_by_test_id("commands-pending")).to_be_visible(timeout=10_000)
    connection.drop()
    expect(page.get_by_test_id("commands-pending")).to_have_count(0, timeout=30_000)
    assert converge(api, s, [page])["values"] == [card, second]
    assert h.event_types(api, s).count("TEAM_CARD_MOVED") == 2
    expect(page.get_by_test_id("conflict-notice")).to_have_count(0)


def test_an_open_team_board_is_read_only_once_the_session_ends(new_context, api) -> None:
    s = h.create_session(api)
    ctx = new_context(viewport={"width": 1280, "height": 1100})
    finish_and_reveal(h.join(ctx, s.code, "Ann"), 0)
    dashboard = new_context().new_page()
    dashboard.goto(f"/s/{s.code}/facilitate?key={s.key}")
    open_board(api, dashboard)
    team = open_team(ctx, s.code)
    expect(team.locator("[data-testid^=card-menu-]")).to_have_count(3)  # open: the candidates can move
    dashboard.get_by_test_id("end-session").click()
    dashboard.get_by_test_id("confirm-yes").click()
    expect(team.get_by_text("The session has ended: these are the team values")).to_be_visible()
    expect(team.locator("[data-testid^=card-menu-]")).to_have_count(0)  # nothing to be refused
    assert rest_team(api, s)["open"] and not rest_team(api, s)["locked"]
