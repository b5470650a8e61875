"""The participant board in real Chromium: identity, steps, rules, drag and drop, conflicts, offline."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.e2e import helpers as h


def test_reload_second_tab_and_rejoin_resume_the_same_participant(new_context, api) -> None:
    s = h.create_session(api)
    ctx = new_context()
    page = h.join(ctx, s.code, "Dana")
    card = h.pile_cards(page, "unsorted")[0]
    h.move(page, card, "important")
    me = h.participants(page)["Dana"]["id"]

    page.reload()
    expect(page.get_by_test_id("board")).to_be_visible()
    expect(h.card_in(page, "important", card)).to_be_visible()

    second = h.open_board(ctx, s.code)
    expect(h.card_in(second, "important", card)).to_be_visible()
    for p in (page, second):
        expect(p.locator("[data-testid=participant]")).to_have_count(1)
        assert h.participants(p)["Dana"]["id"] == me

    # Leave cleanly, then rejoin from the landing page with the same browser: same person, same piles.
    second.get_by_test_id("leave-session").click()
    expect(second).to_have_url(f"/?code={s.code}")
    assert h.rest_state(api, s)["participants"] == []  # the tab navigates only once the leave is stored
    again = h.join(ctx, s.code, "Dana")
    expect(h.card_in(again, "important", card)).to_be_visible()
    state = h.rest_state(api, s)  # the board opens only once the join is stored
    assert [p["id"] for p in state["participants"]] == [me]
    names = [
        e["payload"]["participant"]["name"] for e in h.events(api, s) if e["type"] == "PARTICIPANT_JOINED"
    ]
    assert names == ["Dana", "Dana"]  # joined, left, rejoined: never a "Dana-2"


def test_after_leave_and_erase_the_next_person_on_that_browser_starts_afresh(new_context, api) -> None:
    """A shared tablet: Ola sorts a card and leaves with "Leave and erase my name"; Pim then joins on the
    same browser and gets a board of his own, all cards unsorted, never Ola's sort or identity."""
    s = h.create_session(api)
    ctx = new_context()
    page = h.join(ctx, s.code, "Ola")
    card = h.pile_cards(page, "unsorted")[0]
    h.move(page, card, "very-important")
    ola = h.participants(page)["Ola"]["id"]

    page.get_by_test_id("erase-me").click()
    expect(page).to_have_url(f"/?code={s.code}")
    assert h.rest_state(api, s)["participants"] == []
    assert page.evaluate("(code) => localStorage.getItem('cardsort_join:' + code)", s.code) is None

    board = h.join(ctx, s.code, "Pim")
    expect(board.locator('[data-pile="unsorted"] [data-testid=card]')).to_have_count(12)
    expect(h.card_in(board, "very-important", card)).to_have_count(0)
    pim = h.participants(board)["Pim"]["id"]
    assert pim != ola
    state = h.rest_state(api, s)
    assert [p["name"] for p in state["participants"]] == ["Pim"]
    assert state["piles"][pim]["very-important"] == []
    board.reload()  # Pim stays Pim
    expect(board.get_by_test_id("board")).to_be_visible()
    assert h.participants(board)["Pim"]["id"] == pim


def test_a_taken_name_is_refused_with_a_message(new_context, api) -> None:
    s = h.create_session(api)
    h.join(new_context(), s.code, "Eve")
    page = new_context().new_page()
    page.goto(f"/?code={s.code}")
    page.get_by_test_id("join-name").fill("eve")
    page.get_by_test_id("join-submit").click()
    expect(page.get_by_test_id("join-error")).to_contain_text("already taken")
    assert [p["name"] for p in h.rest_state(api, s)["participants"]] == ["Eve"]


def test_participant_names_are_shown_whole_on_a_phone(new_context, api) -> None:
    """The participants panel's names are not cut off at the top or bottom (ascenders, descenders)."""
    s = h.create_session(api)
    page = h.join(new_context(viewport={"width": 390, "height": 844}, is_mobile=True), s.code, "Jiggly Kit")
    rows = page.locator("[data-testid=participants] [data-testid=participant]")
    name = rows.filter(has_text="Jiggly Kit").get_by_text("Jiggly Kit")
    expect(name).to_be_visible()
    clipped = name.evaluate("el => el.scrollHeight - el.clientHeight")
    assert clipped <= 0, f"the name is {clipped} px taller than the box that shows it"


def test_three_steps_with_rule_messages_and_reveal(new_context, api) -> None:
    s = h.create_session(api)
    page = h.join(new_context(), s.code, "Finn")
    top8_hint = page.locator('[data-testid=pile][data-pile="top8"] [data-testid=pile-empty]')
    expect(top8_hint).to_have_text("Step 2: your 8 most important cards.")  # empty piles say what comes
    page.get_by_test_id("complete-step").click()
    expect(page.get_by_test_id("refused-notice")).to_contain_text("Sort all 12 cards before finishing step 1")
    expect(page.get_by_test_id("board")).to_have_attribute("data-step", "1")

    h.sort_step1(page)
    h.complete_step(page, 2)
    expect(top8_hint).to_have_text("Move your 8 most important cards here.")
    # Step 1's piles, emptied into the top 8 now, say nothing: dropping into them is step 1's work.
    emptied = h.pile_cards(page, "very-important")
    for card in emptied:
        h.move(page, card, "top8")
    expect(
        page.locator('[data-testid=pile][data-pile="very-important"] [data-testid=pile-empty]')
    ).to_have_count(0)
    for card in emptied:
        h.move(page, card, "very-important")
    h.pick(page, "top8", 5)
    expect(top8_hint).to_have_count(0)
    page.get_by_test_id("complete-step").click()
    expect(page.get_by_test_id("refused-notice")).to_contain_text(
        "Pick exactly 8 cards for your top 8 (you have 5)"
    )
    h.pick(page, "top8", 8)
    h.complete_step(page, 3)
    button = page.get_by_test_id("reveal-selection")
    expect(button).to_have_text("Reveal my top 8")
    button.click()
    expect(page.locator("[data-testid=reveal][data-reveal-type=top8] [data-testid=card]")).to_have_count(8)
    expect(button).to_have_text("My top 8 is revealed")

    h.pick(page, "top3", 3)
    expect(button).to_have_text("My top 8 is revealed")  # moved on into the top 3: still the same 8
    h.complete_step(page, 4)
    expect(page.get_by_test_id("step-title")).to_have_text("Done")
    expect(button).to_have_text("Reveal my top 3")
    button.click()
    reveal = page.locator('[data-testid=reveal][data-reveal-type=top3][data-participant-name="Finn"]')
    expect(reveal.locator("[data-testid=card]")).to_have_count(3)
    expect(button).to_have_text("My top 3 is revealed")
    button.click()  # again, later (a second tab, a doubt): nothing new is stored
    page.wait_for_timeout(1000)
    assert h.event_types(api, s).count("SELECTION_REVEALED") == 2

    # Back from Done reopens step 3 and withdraws the top 3 reveal; the top 8 stays revealed.
    page.get_by_test_id("back-step").click()
    expect(page.get_by_test_id("board")).to_have_attribute("data-step", "3")
    expect(reveal).to_have_count(0)
    state = h.eventually(
        lambda: h.rest_state(api, s), lambda st: st["participants"][0]["step"] == 3, "Finn back in step 3"
    )
    assert [r["revealType"] for r in state["reveals"]] == ["top8"]


def test_a_double_click_on_complete_back_or_reveal_is_one_change(new_context, api) -> None:
    """The second click of a double click would be a second step (refused, or one too far back) or the same
    reveal stored again."""
    s = h.create_session(api)
    page = h.join(new_context(), s.code, "Dot")
    h.sort_step1(page)
    for button, step in (("complete-step", "2"), ("back-step", "1")):
        page.get_by_test_id(button).dblclick()
        expect(page.get_by_test_id("board")).to_have_attribute("data-step", step)
        page.wait_for_timeout(300)  # a refusal of the second click is the board's own: it shows at once
        expect(page.get_by_test_id("refused-notice")).to_have_count(0)
    page.get_by_test_id("complete-step").click()  # a single click after a double click still counts
    expect(page.get_by_test_id("board")).to_have_attribute("data-step", "2")

    def stored_steps() -> list[int]:
        return [e["payload"]["toStep"] for e in h.events(api, s) if e["type"] == "STEP_TRANSITIONED"]

    h.eventually(stored_steps, lambda t: len(t) >= 3, "three step changes stored", 15, page)
    h.pick(page, "top8", 8)
    h.complete_step(page, 3)
    page.get_by_test_id("reveal-selection").dblclick()
    expect(page.locator("[data-testid=reveal][data-reveal-type=top8]")).to_have_count(1)
    h.eventually(
        lambda: h.event_types(api, s), lambda t: "SELECTION_REVEALED" in t, "the reveal stored", 15, page
    )
    page.wait_for_timeout(1000)  # a second reveal would have been stored by now
    types = h.event_types(api, s)
    assert stored_steps() == [2, 1, 2, 3] and types.count("SELECTION_REVEALED") == 1, types
    expect(page.get_by_test_id("refused-notice")).to_have_count(0)


def test_a_mouse_drag_moves_a_card_and_every_other_view_follows(new_context, api) -> None:
    s = h.create_session(api)
    ctx = new_context(viewport={"width": 1280, "height": 1600})  # source and target pile both on screen
    page = h.join(ctx, s.code, "Gus")
    other_tab = h.open_board(ctx, s.code)
    dashboard = new_context().new_page()
    dashboard.goto(f"/s/{s.code}/facilitate?key={s.key}")
    card = h.pile_cards(page, "unsorted")[2]

    source = page.locator(f'[data-testid=card][data-card-id="{card}"]')
    target = page.locator('[data-testid=pile][data-pile="not-important"]')
    box, tbox = source.bounding_box(), target.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 10)
    page.mouse.down()
    for i in range(1, 11):  # a real drag: several pointer moves past the activation distance
        page.mouse.move(
            box["x"] + 20 + (tbox["x"] + 40 - box["x"] - 20) * i / 10,
            box["y"] + 10 + (tbox["y"] + 40 - box["y"] - 10) * i / 10,
        )
    page.mouse.up()

    expect(h.card_in(page, "not-important", card)).to_be_visible()
    expect(h.card_in(other_tab, "not-important", card)).to_be_visible()
    # The live table (the dashboard's replay view shows the same rows too).
    row = dashboard.get_by_test_id("participants").locator('[data-participant-name="Gus"]')
    expect(row).to_contain_text("11")  # unsorted count on the dashboard went 12 -> 11
    # The other tab and the dashboard show only what the log holds: REST agrees now.
    assert h.rest_state(api, s)["piles"][h.participants(page)["Gus"]["id"]]["not-important"] == [card]


def test_a_reveal_sent_into_a_dead_connection_lands_once_it_reconnects(new_context, api) -> None:
    """Reflex sends an event at most once: a reveal clicked while the connection is silently dead must not
    be lost. It waits in the change queue and is sent again when the tab reconnects, stored once."""
    s = h.create_session(api)
    ctx = new_context()
    connection = h.DeadSocket(ctx)
    page = h.join(ctx, s.code, "Rio")
    h.sort_step1(page)
    h.complete_step(page, 2)
    h.pick(page, "top8", 8)
    h.complete_step(page, 3)
    page.wait_for_function("() => window.__cardsortQueue.queue.length === 0")  # the step change is stored

    connection.dead = True
    page.get_by_test_id("reveal-selection").click()
    assert page.evaluate("window.__cardsortQueue.queue.map((e) => e.kind)") == ["reveal"]
    assert h.rest_state(api, s)["reveals"] == []  # swallowed by the dead connection
    connection.drop()  # the browser finally closes it; the tab reconnects and sends its queue again
    cards = page.locator(
        '[data-testid=reveal][data-reveal-type=top8][data-participant-name="Rio"] [data-testid=card]'
    )
    expect(cards).to_have_count(8, timeout=30_000)
    h.eventually(lambda: h.rest_state(api, s), lambda st: len(st["reveals"]) == 1, "the reveal stored")
    assert [e["type"] for e in h.events(api, s)].count("SELECTION_REVEALED") == 1


def _fire_at(page: Page, selector: str, at_ms: float) -> None:
    """Arm a click on `selector` for wall-clock time `at_ms`, so two tabs click at the same instant."""
    page.evaluate(
        """([sel, at]) => { const el = document.querySelector(sel);
             setTimeout(() => el.click(), Math.max(0, at - Date.now())); }""",
        [selector, at_ms],
    )


def test_two_tabs_moving_the_same_card_end_identical_with_one_move_kept(new_context, api) -> None:
    s = h.create_session(api)
    ctx = new_context()
    tab_a = h.join(ctx, s.code, "Hal")
    tab_b = h.open_board(ctx, s.code)
    card = h.pile_cards(tab_a, "unsorted")[0]
    for tab in (tab_a, tab_b):
        tab.get_by_test_id(f"card-menu-{card}").click()
        expect(tab.get_by_test_id("move-to-important")).to_be_visible()
    at = tab_a.evaluate("Date.now()") + 400
    _fire_at(tab_a, '[data-testid="move-to-very-important"]', at)
    _fire_at(tab_b, '[data-testid="move-to-not-important"]', at)

    moves = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        moves = [e for e in h.events(api, s) if e["type"] == "CARD_MOVED"]
        notices = (
            tab_a.get_by_test_id("conflict-notice").count() + tab_b.get_by_test_id("conflict-notice").count()
        )
        if moves and notices:
            break
        time.sleep(0.1)
    assert len(moves) == 1, moves
    winner = moves[0]["payload"]["toPile"]
    for tab in (tab_a, tab_b):
        expect(h.card_in(tab, winner, card)).to_be_visible()
        expect(tab.locator(f'[data-testid=board] [data-card-id="{card}"]')).to_have_count(1)
    loser = tab_b if winner == "very-important" else tab_a
    expect(loser.get_by_test_id("conflict-notice")).to_be_visible()
    pid = h.participants(tab_a)["Hal"]["id"]
    assert h.rest_state(api, s)["piles"][pid][winner] == [card]


def test_offline_moves_land_in_order_or_roll_back_visibly(new_context, api) -> None:
    s = h.create_session(api)
    ctx = new_context()
    network = h.NetworkSwitch(ctx)
    page = h.join(ctx, s.code, "Ivy")
    # The same person on a second device (same identity in localStorage), which stays online.
    twin = h.open_board(new_context(storage_state=ctx.storage_state()), s.code)
    assert h.participants(twin)["Ivy"]["id"] == h.participants(page)["Ivy"]["id"]
    cards = h.pile_cards(page, "unsorted")[:4]

    network.go_offline()
    for card, pile in zip(cards[:3], ["very-important", "important", "not-important"], strict=True):
        h.move(page, card, pile, wait=False)
    h.move(page, cards[3], "important", wait=False)  # will no longer apply: the twin moves it first
    h.move(twin, cards[3], "not-important")
    page.wait_for_timeout(500)
    network.go_online()

    expect(h.card_in(page, "very-important", cards[0])).to_be_visible(timeout=30_000)
    expect(h.card_in(page, "important", cards[1])).to_be_visible()
    expect(h.card_in(page, "not-important", cards[2])).to_be_visible()
    expect(h.card_in(page, "not-important", cards[3])).to_be_visible()
    moves = h.eventually(
        lambda: [e for e in h.events(api, s) if e["type"] == "CARD_MOVED"],
        lambda found: len(found) >= 4,
        "the twin's move and the three queued ones in the log",
    )
    moved = [e["payload"]["cardId"] for e in moves]
    expect(page.get_by_test_id("conflict-notice")).to_be_visible()
    assert moved == [cards[3], *cards[:3]]  # the twin's move, then the queued ones in the order made
    for pile in ("very-important", "important", "not-important", "unsorted"):
        expect(twin.locator(f'[data-testid=board] [data-pile="{pile}"] [data-testid=card]')).to_have_count(
            len(h.pile_cards(page, pile))
        )
        assert h.pile_cards(page, pile) == h.pile_cards(twin, pile)


def test_a_phone_sorts_by_tapping(new_context, api) -> None:
    """On a phone-sized touch screen: only the step's piles show, and one tap moves a card onward."""
    s = h.create_session(api)
    page = h.join(
        new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True), s.code, "Pia"
    )
    expect(page.locator('[data-testid=pile][data-pile="top8"]')).to_be_hidden()  # not a step-1 pile
    targets = ["very-important", "important", "not-important"]
    for i, card in enumerate(h.pile_cards(page, "unsorted")):
        page.locator(
            f'[data-pile="unsorted"] [data-card-id="{card}"] [data-testid="quick-{targets[i % 3]}"]'
        ).tap()
        expect(h.card_in(page, targets[i % 3], card)).to_be_visible()
    # A sorted card offers no tap into a later step's pile (the server would refuse it).
    expect(page.locator('[data-testid=board] [data-testid="quick-top8"]')).to_have_count(0)
    h.complete_step(page, 2)
    expect(page.locator('[data-testid=pile][data-pile="top8"]')).to_be_visible()
    tapped = h.pile_cards(page, "very-important")[:2]
    for card in tapped:
        page.locator(f'[data-card-id="{card}"] [data-testid="quick-top8"]').tap()
        expect(h.card_in(page, "top8", card)).to_be_visible()
    pid = h.participants(page)["Pia"]["id"]
    top8 = h.eventually(
        lambda: h.rest_state(api, s)["piles"][pid]["top8"], lambda t: len(t) >= 2, "both taps in the log"
    )
    assert sorted(top8) == sorted(tapped)
