"""The server restarts mid-session: state comes back from the log; open tabs reconnect and agree."""

from __future__ import annotations

import signal

from playwright.sync_api import expect

from tests.e2e import helpers as h


def test_state_survives_a_server_kill_and_tabs_reconnect(app_server, new_context, api) -> None:
    s = h.create_session(api)
    ann = h.join(new_context(), s.code, "Nia", record_steps=True)
    bob = h.join(new_context(), s.code, "Oto", record_steps=True)
    h.sort_step1(ann)
    h.complete_step(ann, 2)
    # The tab shows step 2 at once (optimistic); kill the server only once the log has it.
    before = h.eventually(
        lambda: h.rest_state(api, s),
        lambda st: [p["step"] for p in st["participants"] if p["name"] == "Nia"] == [2],
        "Nia in step 2",
    )
    old_worker = ann.get_by_test_id("board").get_attribute("data-worker")

    app_server.stop(signal.SIGKILL)  # no graceful shutdown: only what the log holds survives
    app_server.start()

    assert h.rest_state(api, s)["piles"] == before["piles"]
    for page in (ann, bob):
        # The tab has reconnected and re-loaded its board from the new process (until then it shows
        # what it had), then it shows the log's state.
        page.wait_for_function(
            "(old) => { const b = document.querySelector('[data-testid=board]');"
            " const w = b && b.getAttribute('data-worker'); return !!w && w !== old; }",
            arg=old_worker,
            timeout=60_000,
        )
        expect(page.locator('[data-participant-name="Nia"]')).to_have_attribute(
            "data-step", "2", timeout=60_000
        )
        expect(page.locator('[data-participant-name="Oto"]')).to_have_attribute(
            "data-online", "true", timeout=60_000
        )
    # The reconnected tabs still work: a move after the restart reaches the other tab.
    card = h.pile_cards(ann, "very-important")[0]
    h.move(ann, card, "top8")
    nia = h.participants(bob)["Nia"]["id"]
    top8 = h.eventually(lambda: h.rest_state(api, s)["piles"][nia]["top8"], bool, "Nia's move in the log")
    assert top8 == [card]
    for page in (ann, bob):
        assert h.step_history(page)["Nia"] == ["1", "2"]
