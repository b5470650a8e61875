from playwright.sync_api import expect
from tests.e2e import helpers as h

def test_probe_erase_then_next_person(new_context, api) -> None:
    s = h.create_session(api)
    ctx = new_context()
    page = h.join(ctx, s.code, "Ola")
    card = h.pile_cards(page, "unsorted")[0]
    h.move(page, card, "very-important")
    page.once("dialog", lambda d: d.accept())
    page.get_by_test_id("erase-me").click()
    page.wait_for_timeout(3000)
    page.screenshot(path="/tmp/shots/erase1.png")
    print("STATE1", h.rest_state(api, s)["participants"])
    page.goto(f"/s/{s.code}")
    page.wait_for_timeout(3000)
    page.screenshot(path="/tmp/shots/erase2.png")
    page.goto(f"/?code={s.code}")
    page.get_by_test_id("join-name").fill("Pim")
    page.get_by_test_id("join-submit").click()
    expect(page.get_by_test_id("board")).to_be_visible()
    page.wait_for_timeout(1500)
    page.screenshot(path="/tmp/shots/erase3.png")
    print("STATE2", h.rest_state(api, s)["participants"], h.rest_state(api, s)["piles"])
