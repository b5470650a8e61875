"""Nothing a participant or facilitator clicks is lost in a silently dead connection.

Reflex sends an event at most once; a frame written into a socket that died without closing is gone. The
participant's leave goes through the board's change queue and the dashboard's controls through the page's
command outbox: both are sent again until the server acknowledges them, and the server applies each id
once, so after the reconnect every click lands exactly once (also when only its acknowledgement was lost).
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e import helpers as h


@pytest.fixture(autouse=True)
def _patient_expect():
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


#: What the dashboard's controls clicked in the test below store, once each.
CONTROL_EVENTS = (
    "STEP_OPENED",
    "TIMER_STARTED",
    "TIMER_EXTENDED",
    "TEAM_BOARD_OPENED",
    "TEAM_BOARD_LOCKED",
    "SESSION_ENDED",
)


def _paced_session(api: httpx.Client) -> h.Session:
    r = api.post("/api/sessions", json={"deck": "values-mini", "title": "Resend", "pacing": "facilitator"})
    assert r.status_code == 201, r.text
    return h.Session(r.json()["code"], r.json()["facilitatorKey"])


def _counts(api: httpx.Client, s: h.Session, *types: str) -> dict[str, int]:
    seen = h.event_types(api, s)
    return {t: seen.count(t) for t in types}


def _while_dead(connection: h.DeadSocket, page: Page, clicks) -> None:
    """Click into a dead connection, check the page says it waits, then let the browser notice."""
    connection.dead = True
    clicks()
    expect(page.get_by_test_id("commands-pending")).to_be_visible(timeout=10_000)
    # Past the outbox's resend interval (its copies are swallowed as well), within the server's ping timeout
    # (a socket dead for longer is closed and reconnected: test_offline.py's 40 s silent outage covers that).
    page.wait_for_timeout(3000)


def test_a_leave_clicked_into_a_dead_connection_lands_once_it_reconnects(new_context, api) -> None:
    s = h.create_session(api)
    ctx = new_context()
    connection = h.DeadSocket(ctx)
    page = h.join(ctx, s.code, "Noa")
    card = h.pile_cards(page, "unsorted")[0]

    connection.dead = True
    h.move(page, card, "important")  # queued before the leave: it is sent (and stored) first
    page.get_by_test_id("leave-session").click()
    expect(page.get_by_test_id("leaving")).to_be_visible()
    page.wait_for_timeout(4500)  # past the queue's resend interval
    assert "PARTICIPANT_LEFT" not in h.event_types(api, s)  # swallowed by the dead connection
    connection.drop()  # the browser finally closes it; the tab reconnects and sends its queue again

    expect(page).to_have_url(re.compile(rf"/\?code={s.code}$"), timeout=30_000)  # off the board
    types = h.eventually(
        lambda: h.event_types(api, s), lambda t: "PARTICIPANT_LEFT" in t, "the leave stored", 30, page
    )
    assert types.count("PARTICIPANT_LEFT") == 1 and types.count("CARD_MOVED") == 1
    assert types.index("CARD_MOVED") < types.index("PARTICIPANT_LEFT")
    assert page.evaluate(f"localStorage.getItem('cardsort_pending:{s.code}')") is None  # nothing waits


def test_dashboard_controls_clicked_into_a_dead_connection_land_once_each(new_context, api) -> None:
    s = _paced_session(api)
    ctx = new_context()
    connection = h.DeadSocket(ctx)
    dash = ctx.new_page()
    dash.goto(f"/s/{s.code}/facilitate?key={s.key}")
    expect(dash.get_by_test_id("open-step-2")).to_be_enabled(timeout=30_000)

    def first_clicks() -> None:
        dash.get_by_test_id("open-step-2").click()
        dash.get_by_test_id("timer-minutes").fill("7")  # its own update is lost too: the click reads it
        dash.get_by_test_id("timer-start").click()
        dash.get_by_test_id("team-open").click()

    _while_dead(connection, dash, first_clicks)
    assert h.event_types(api, s) == ["SESSION_CREATED"]
    connection.drop()
    expect(dash.get_by_test_id("commands-pending")).to_have_count(0, timeout=30_000)
    rest = h.rest_state(api, s)
    assert rest["openStep"] == 2 and rest["team"]["open"] and rest["timer"] is not None
    started = next(e for e in h.events(api, s) if e["type"] == "TIMER_STARTED")
    assert started["payload"]["seconds"] == 7 * 60

    def second_clicks() -> None:
        dash.get_by_test_id("timer-add-minute").click()
        dash.get_by_test_id("team-lock").click()
        dash.get_by_test_id("end-session").click()
        dash.get_by_test_id("confirm-yes").click()

    expect(dash.get_by_test_id("timer-add-minute")).to_be_enabled()
    _while_dead(connection, dash, second_clicks)
    assert "SESSION_ENDED" not in h.event_types(api, s)
    connection.drop()
    expect(dash.get_by_test_id("session-ended")).to_be_visible(timeout=30_000)
    expect(dash.get_by_test_id("commands-pending")).to_have_count(0)
    assert _counts(api, s, *CONTROL_EVENTS) == dict.fromkeys(CONTROL_EVENTS, 1)
    # In order: the end came last, so everything before it was allowed.
    assert h.event_types(api, s)[-1] == "SESSION_ENDED"


def test_a_control_whose_answer_was_lost_is_sent_again_and_applied_once(new_context, api) -> None:
    """The click reaches the server but its acknowledgement does not: the outbox sends it again (and again
    after the reconnect); a minute added twice would be two TIMER_EXTENDED events."""
    s = h.create_session(api)
    ctx = new_context()
    connection = h.DeadSocket(ctx)
    dash = ctx.new_page()
    dash.goto(f"/s/{s.code}/facilitate?key={s.key}")
    dash.get_by_test_id("timer-preset-5").click()
    expect(dash.get_by_test_id("timer-add-minute")).to_be_enabled(timeout=30_000)

    connection.deaf = True
    dash.get_by_test_id("timer-add-minute").click()
    h.eventually(lambda: h.event_types(api, s), lambda t: "TIMER_EXTENDED" in t, "a minute added", 15, dash)
    expect(dash.get_by_test_id("commands-pending")).to_be_visible(timeout=10_000)
    dash.wait_for_timeout(4500)  # the outbox sent it again meanwhile (answered; the answer was lost)
    connection.drop()
    expect(dash.get_by_test_id("commands-pending")).to_have_count(0, timeout=30_000)
    assert h.event_types(api, s).count("TIMER_EXTENDED") == 1


def _join_whose_answer_is_lost(connection: h.DeadSocket, page: Page, api: httpx.Client, s: h.Session) -> str:
    """Click Join while the server's answers are lost: the server registers the participant, the browser
    never hears of it (no identity stored, no redirect). Returns the participant id the server made."""
    # Reflex's client sends its next event only once the previous one is answered: let the typing's own
    # events be answered first, or the join would wait behind an answer the deaf socket swallows.
    page.wait_for_timeout(1500)
    connection.deaf = True
    page.get_by_test_id("join-submit").click()
    people = h.eventually(
        lambda: h.rest_state(api, s)["participants"], lambda p: len(p) == 1, "the join registered", 15, page
    )
    page.wait_for_timeout(1000)  # the answer (identity, redirect) went into the deaf socket meanwhile
    connection.drop()
    page.wait_for_timeout(1000)  # reconnected
    return people[0]["id"]


def _joined_once_and_sorting(page: Page, api: httpx.Client, s: h.Session, name: str, pid: str) -> None:
    """One participant named `name` (the one the lost join made), whose board works."""
    expect(page.get_by_test_id("board")).to_be_visible(timeout=h.BOARD_TIMEOUT_MS)
    people = h.rest_state(api, s)["participants"]
    assert [(p["id"], p["name"]) for p in people] == [(pid, name)]
    assert h.event_types(api, s).count("PARTICIPANT_JOINED") == 1
    mine = f'[data-testid=participant][data-participant-name="{name}"]'
    expect(page.locator(f"[data-testid=participants] {mine}")).to_have_attribute("data-participant-id", pid)
    card = h.pile_cards(page, "unsorted")[0]
    h.move(page, card, "important")
    h.eventually(
        lambda: h.rest_state(api, s)["piles"].get(pid, {}).get("important", []),
        lambda cards: card in cards,
        "the move stored",
        15,
        page,
    )


def _landing_join_whose_answer_is_lost(
    new_context, api: httpx.Client, name: str
) -> tuple[Page, h.Session, str]:
    """The landing page's join form filled in and sent, its answer lost; (page, session, participant id)."""
    s = h.create_session(api)
    ctx = new_context()
    connection = h.DeadSocket(ctx)
    page = ctx.new_page()
    page.goto("/")
    page.get_by_test_id("join-code").fill(s.code)
    page.get_by_test_id("join-name").fill(name)
    return page, s, _join_whose_answer_is_lost(connection, page, api, s)


def test_a_join_whose_answer_was_lost_is_the_same_participant_after_a_reload(new_context, api) -> None:
    """Landing page: the answer to Join is lost; the participant reloads and joins again with their name."""
    page, s, pid = _landing_join_whose_answer_is_lost(new_context, api, "Noa")
    page.reload()
    # The tab's state outlives the reload: the form comes back filled in. Typing before it has (the page not
    # yet hydrated) races the restored value into the field, so wait for it, as a person would see it.
    expect(page.get_by_test_id("join-code")).to_have_value(s.code, timeout=h.BOARD_TIMEOUT_MS)
    page.get_by_test_id("join-code").fill(s.code)
    page.get_by_test_id("join-name").fill("Noa")
    page.get_by_test_id("join-submit").click()
    _joined_once_and_sorting(page, api, s, "Noa", pid)


def test_a_join_whose_answer_was_lost_is_the_same_participant_in_a_new_tab(new_context, api) -> None:
    """The board's own join form: the answer is lost, the phone drops the tab, the participant opens the
    join link again and joins with their name."""
    s = h.create_session(api)
    ctx = new_context()
    connection = h.DeadSocket(ctx)
    page = ctx.new_page()
    page.goto(f"/s/{s.code}")
    expect(page.get_by_test_id("join-name")).to_be_visible(timeout=h.BOARD_TIMEOUT_MS)
    page.get_by_test_id("join-name").fill("Ivo")
    pid = _join_whose_answer_is_lost(connection, page, api, s)
    page.close()
    again = ctx.new_page()
    again.goto(f"/s/{s.code}")
    expect(again.get_by_test_id("join-name")).to_be_visible(timeout=h.BOARD_TIMEOUT_MS)
    again.get_by_test_id("join-name").fill("Ivo")
    again.get_by_test_id("join-submit").click()
    _joined_once_and_sorting(again, api, s, "Ivo", pid)


def test_a_join_whose_answer_was_lost_is_the_same_participant_when_clicked_again(new_context, api) -> None:
    """The landing page's Join clicked again in the same tab once the connection is back."""
    page, s, pid = _landing_join_whose_answer_is_lost(new_context, api, "Lu")
    page.get_by_test_id("join-submit").click()
    _joined_once_and_sorting(page, api, s, "Lu", pid)
