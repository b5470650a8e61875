"""The facilitator key leaves the address bar at once, and every page runs under a strict
Content-Security-Policy and `Referrer-Policy: no-referrer` without a single violation."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e import helpers as h

#: Records every CSP violation the page reports (read back as window.__cspViolations).
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


def _watch(page: Page) -> list[str]:
    seen: list[str] = []
    page.add_init_script(CSP_RECORDER)
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    return seen


def _violations(page: Page, console: list[str]) -> list[str]:
    return list(page.evaluate("window.__cspViolations || []")) + console


def test_the_key_is_traded_for_this_browser_and_leaves_the_url(new_context, api) -> None:
    s = h.create_session(api)
    ctx = new_context()
    page = ctx.new_page()
    page.goto(f"/s/{s.code}/facilitate?key={s.key}")
    expect(page.get_by_test_id("dashboard")).to_be_visible(timeout=20_000)
    page.wait_for_url(f"**/s/{s.code}/facilitate")
    assert s.key not in page.url and s.key not in page.evaluate("location.href")
    page.reload()  # this browser keeps its facilitator session
    expect(page.get_by_test_id("dashboard")).to_be_visible(timeout=20_000)
    page.go_back()  # the history entry with the key was replaced, not kept
    assert s.key not in page.evaluate("location.href")
    other = new_context().new_page()  # another browser without the link has nothing
    other.goto(f"/s/{s.code}/facilitate")
    expect(other.get_by_test_id("forbidden")).to_be_visible(timeout=20_000)
    expect(other.get_by_test_id("dashboard")).to_have_count(0)


def test_pages_run_under_the_csp_without_violations(new_context, api) -> None:
    for path in ("/", "/s/ABCDEF", "/s/ABCDEF/facilitate", "/api/health"):
        r = api.get(path)
        assert r.headers["referrer-policy"] == "no-referrer", path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self' 'sha256-" in csp and "'unsafe-inline'" not in csp.split(";")[1], path

    facilitator = new_context()
    landing = facilitator.new_page()
    console = _watch(landing)
    landing.goto("/")
    landing.get_by_test_id("create-session").click()
    code = landing.get_by_test_id("session-code").inner_text()
    landing.get_by_test_id("facilitator-link").click()  # opens the dashboard with the key, once
    expect(landing.get_by_test_id("dashboard")).to_be_visible(timeout=20_000)

    person = new_context()
    board = person.new_page()
    board_console = _watch(board)
    board.goto(f"/?code={code}")
    board.get_by_test_id("join-name").fill("Csp")
    board.get_by_test_id("join-submit").click()
    expect(board.get_by_test_id("board")).to_be_visible(timeout=20_000)
    card = h.pile_cards(board, "unsorted")[0]
    h.move(board, card, "important")  # the websocket works under the policy
    row = landing.locator('[data-testid=participant][data-participant-name="Csp"]')
    expect(row).to_have_attribute("data-online", "true", timeout=20_000)
    assert _violations(landing, console) == [] and _violations(board, board_console) == []
