"""The landing page in real Chromium against the real app."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import helpers as h
from tests.e2e.helpers import HeldSocket

CODE = re.compile(r"^[A-Z0-9]{6}$")


def test_create_session_through_the_ui_shows_its_code(page: Page, api) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Run a workshop")).to_be_visible()
    page.get_by_test_id("create-session").click()
    code_el = page.get_by_test_id("session-code")
    expect(code_el).to_have_text(CODE)
    code = code_el.inner_text()
    # The session really exists on the server, with the facilitator key the page links to.
    href = page.get_by_test_id("facilitator-link").get_attribute("href")
    key = href.split("key=")[1]
    body = api.get(f"/api/sessions/{code}", headers={"Authorization": f"Bearer {key}"}).json()
    assert body["code"] == code and body["participants"] == []


def test_a_double_click_on_create_makes_one_session(page: Page) -> None:
    """Both clicks reach the server; the second asks for the session the first one made."""
    page.goto("/")
    expect(page.get_by_role("heading", name="Run a workshop")).to_be_visible()
    page.wait_for_timeout(1000)  # hydrated: both clicks are sent
    page.get_by_test_id("create-session").dblclick()
    expect(page.get_by_test_id("session-code")).to_have_text(CODE)
    page.wait_for_timeout(1500)  # the second click's answer
    keys = page.evaluate("Object.keys(JSON.parse(localStorage.getItem('cardsort_facilitator_keys') || '{}'))")
    assert keys == [page.get_by_test_id("session-code").inner_text()]
    # A deliberate second session later is still made.
    page.wait_for_timeout(2000)
    page.get_by_test_id("create-session").click()
    expect(page.get_by_test_id("session-code")).not_to_have_text(keys[0])


def test_joining_with_a_wrong_code_says_so(page: Page) -> None:
    page.goto("/")
    page.get_by_test_id("join-code").fill("ZZZZZZ")
    page.get_by_test_id("join-name").fill("Ann")
    page.get_by_test_id("join-submit").click()
    expect(page.get_by_test_id("join-error")).to_contain_text("No session with code 'ZZZZZZ'")


@pytest.mark.parametrize("link", ["/?code={code}", "/join/{code}"])
def test_join_waits_until_the_linked_page_has_loaded(new_context, api, link) -> None:
    """A participant on a slow phone follows the join link and types a name before the page has loaded.
    Join stays disabled until the page is connected and has put the link's code into the code field (a
    Join sent earlier would go out with the field empty: "Enter the session code you were given"); then it
    joins that session."""
    s = h.create_session(api)
    ctx = new_context()
    network = HeldSocket(ctx)
    page = ctx.new_page()
    page.goto(link.format(code=s.code))
    h.eventually(lambda: len(network.waiting), bool, "the hydrate", page=page)  # the page runs; it waits
    page.get_by_test_id("join-name").fill("Swift")
    expect(page.get_by_test_id("join-submit")).to_be_disabled()
    expect(page.get_by_test_id("create-session")).to_be_disabled()
    expect(page.get_by_test_id("join-code")).to_have_value("")
    expect(page.get_by_test_id("landing-connecting")).to_be_visible()  # why the buttons wait
    network.release()
    expect(page.get_by_test_id("join-code")).to_have_value(s.code)
    expect(page.get_by_test_id("landing-connecting")).to_have_count(0)
    page.get_by_test_id("join-submit").click()
    expect(page.get_by_test_id("board")).to_be_visible(timeout=h.BOARD_TIMEOUT_MS)
    assert page.url.endswith(f"/s/{s.code}")
    assert [p["name"] for p in h.rest_state(api, s)["participants"]] == ["Swift"]


def test_health_answers(api) -> None:
    assert api.get("/api/health").json()["status"] == "ok"
    head = api.head("/api/health")  # a load balancer's probe
    assert head.status_code == 200 and head.content == b""


def test_an_unknown_api_path_is_a_json_404_not_the_pages_html(api) -> None:
    """The Reflex app is mounted behind the API: without the API's own catch-all it answered HTML."""
    r = api.get("/api/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"error": "No such API endpoint: /api/no-such-thing"}
    wrong = api.delete("/api/health")
    assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
    assert wrong.json()["error"] == "DELETE is not allowed on /api/health"
