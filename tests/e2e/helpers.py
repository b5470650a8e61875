"""Driving the app the way people do: through the DOM hooks of DESIGN §5."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
from playwright.sync_api import BrowserContext, Page, expect

T = TypeVar("T")

#: A board's first render waits for the server's load (join, projection, first push); on a busy machine,
#: or a cluster's cold worker, that takes longer than Playwright's default 5 s.
BOARD_TIMEOUT_MS = 30_000

#: A MutationObserver that records every value each participant's data-step ever shows in this tab
#: (the flicker detector); read back with `step_history(page)`.
STEP_RECORDER = """
(() => {
  if (window.__stepHistory) return;
  const history = {};
  window.__stepHistory = history;
  const record = (el) => {
    if (!el || !el.getAttribute) return;
    if (el.getAttribute('data-testid') !== 'participant') return;
    const name = el.getAttribute('data-participant-name');
    const step = el.getAttribute('data-step');
    if (!name || !step) return;
    const seen = history[name] || (history[name] = []);
    if (seen[seen.length - 1] !== step) seen.push(step);
  };
  const scan = (root) => {
    if (root.querySelectorAll) root.querySelectorAll('[data-testid=participant]').forEach(record);
    record(root);
  };
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      if (m.type === 'attributes') record(m.target);
      else m.addedNodes.forEach(scan);
    }
  }).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-step'],
  });
  scan(document);
})();
"""


@dataclass
class Session:
    code: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def create_session(api: httpx.Client, deck: str = "values-mini", title: str = "E2E") -> Session:
    r = api.post("/api/sessions", json={"deck": deck, "title": title})
    assert r.status_code == 201, r.text
    return Session(r.json()["code"], r.json()["facilitatorKey"])


def rest_state(api: httpx.Client, session: Session) -> dict:
    r = api.get(f"/api/sessions/{session.code}", headers=session.auth)
    assert r.status_code == 200, r.text
    return r.json()


def events(api: httpx.Client, session: Session) -> list[dict]:
    r = api.get(f"/api/sessions/{session.code}/events?limit=1000", headers=session.auth)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def event_types(api: httpx.Client, session: Session) -> list[str]:
    return [e["type"] for e in events(api, session)]


def eventually(
    read: Callable[[], T],
    check: Callable[[T], bool],
    what: str,
    timeout_s: float = 15,
    page: Page | None = None,
) -> T:
    """`read()` once `check` holds on it. A tab shows its own change at once (optimistic) and the log has
    it a moment later, so a test that acts in a tab and then reads REST waits for the log this way.

    With `page`, it waits inside Playwright: routed websockets (`DeadSocket`) are served only while the
    test is in a Playwright call, so a tab whose socket is routed needs that to reach the server at all."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what} within {timeout_s} s; last: {value}")
        if page is None:
            time.sleep(0.05)
        else:
            page.wait_for_timeout(50)


def join(ctx: BrowserContext, code: str, name: str, record_steps: bool = False) -> Page:
    page = ctx.new_page()
    if record_steps:
        page.add_init_script(STEP_RECORDER)
    page.goto("/")
    page.get_by_test_id("join-code").fill(code)
    page.get_by_test_id("join-name").fill(name)
    page.get_by_test_id("join-submit").click()
    expect(page.get_by_test_id("board")).to_be_visible(timeout=BOARD_TIMEOUT_MS)
    return page


def open_board(ctx: BrowserContext, code: str, record_steps: bool = False) -> Page:
    page = ctx.new_page()
    if record_steps:
        page.add_init_script(STEP_RECORDER)
    page.goto(f"/s/{code}")
    expect(page.get_by_test_id("board")).to_be_visible(timeout=BOARD_TIMEOUT_MS)
    return page


def board_step(page: Page) -> str:
    return page.get_by_test_id("board").get_attribute("data-step") or ""


def pile_cards(page: Page, pile: str) -> list[str]:
    cards = page.locator(f'[data-testid=board] [data-testid=pile][data-pile="{pile}"] [data-testid=card]')
    return [c.get_attribute("data-card-id") or "" for c in cards.all()]


def card_in(page: Page, pile: str, card_id: str):
    pile_sel = f'[data-testid=board] [data-testid=pile][data-pile="{pile}"]'
    return page.locator(f'{pile_sel} [data-testid=card][data-card-id="{card_id}"]')


def move(page: Page, card_id: str, pile: str, wait: bool = True) -> None:
    page.get_by_test_id(f"card-menu-{card_id}").click()
    # Radix menus animate out in a portal: click the item of the menu that is open now.
    page.locator(f'[role=menu][data-state=open] [data-testid="move-to-{pile}"]').click()
    if wait:
        expect(card_in(page, pile, card_id)).to_be_visible()


def sort_step1(page: Page) -> None:
    piles = ["very-important", "important", "not-important"]
    for i, card in enumerate(pile_cards(page, "unsorted")):
        move(page, card, piles[i % 3])
    expect(page.locator('[data-pile="unsorted"] [data-testid=card]')).to_have_count(0)


def pick(page: Page, to_pile: str, count: int) -> None:
    sources = ["very-important", "important", "not-important"] if to_pile == "top8" else ["top8"]
    for pile in sources:
        for card in pile_cards(page, pile):
            if len(pile_cards(page, to_pile)) >= count:
                return
            move(page, card, to_pile)


def complete_step(page: Page, expected_step: int) -> None:
    page.get_by_test_id("complete-step").click()
    expect(page.get_by_test_id("board")).to_have_attribute("data-step", str(expected_step))


def participants(page: Page) -> dict[str, dict[str, str]]:
    rows = page.locator("[data-testid=participants] [data-testid=participant]")
    return {
        r.get_attribute("data-participant-name") or "": {
            "id": r.get_attribute("data-participant-id") or "",
            "step": r.get_attribute("data-step") or "",
            "online": r.get_attribute("data-online") or "",
        }
        for r in rows.all()
    }


def step_history(page: Page) -> dict[str, list[str]]:
    return page.evaluate("window.__stepHistory || {}")


class NetworkSwitch:
    """Takes a browser context offline *including* its open websocket.

    `context.set_offline` alone leaves open websockets working (a known Playwright/Chromium limitation),
    so the app's socket is routed through Playwright and cut here, as a lost network would cut it.
    """

    def __init__(self, ctx: BrowserContext) -> None:
        self.ctx = ctx
        self.offline = False
        self.sockets: list = []
        ctx.route_web_socket(lambda url: "/_event" in url, self._route)

    def _route(self, ws) -> None:
        # Always through to the server: while the context is offline the connection fails the way a lost
        # network fails it (a socket accepted and closed at once would look like a live server instead).
        server = ws.connect_to_server()
        self.sockets.append((ws, server))

    def go_offline(self) -> None:
        """Take the network away, and with it the app's open websocket."""
        self.ctx.set_offline(True)
        for ws, server in self.sockets:
            server.close()
            ws.close(code=1011, reason="offline")
        self.sockets.clear()

    def go_online(self) -> None:
        self.ctx.set_offline(False)


class HeldSocket:
    """A slow network on the way to the server: while `held`, what the page sends waits here (the page
    still thinks it sent it); `release()` sends it on, in order. A page held from the start has not loaded
    yet: its hydrate and every event after it wait."""

    def __init__(self, ctx: BrowserContext) -> None:
        self.held = True
        self.waiting: list[tuple] = []
        ctx.route_web_socket(lambda url: "/_event" in url, self._route)

    def _route(self, ws) -> None:
        server = ws.connect_to_server()
        ws.on_message(
            lambda message: self.waiting.append((server, message)) if self.held else server.send(message)
        )

    def release(self) -> None:
        self.held = False
        waiting, self.waiting = self.waiting, []
        for server, message in waiting:
            server.send(message)


class DeadSocket:
    """A connection that dies silently: while `dead`, what the page sends is swallowed (the socket still
    looks open, as on a network that went away without closing it); while `deaf`, what the server sends is
    (the page's frames arrive, their answers are lost); `drop()` then closes it, as the browser finally
    does, and the page reconnects. The frames pass through this process, only while the test is inside a
    Playwright call: wait with `page.wait_for_timeout` / `expect` / `eventually(page=...)`, not `sleep`."""

    def __init__(self, ctx: BrowserContext) -> None:
        self.dead = False
        self.deaf = False
        self.sockets: list = []
        ctx.route_web_socket(lambda url: "/_event" in url, self._route)

    def _route(self, ws) -> None:
        server = ws.connect_to_server()
        ws.on_message(lambda message: None if self.dead else server.send(message))
        server.on_message(lambda message: None if self.deaf else ws.send(message))
        self.sockets.append((ws, server))

    def drop(self) -> None:
        # The page reconnects while these close (Playwright runs the route meanwhile): leave the new socket.
        dying, self.sockets = self.sockets, []
        self.dead = self.deaf = False
        for ws, server in dying:
            server.close()
            ws.close(code=1011, reason="connection lost")
