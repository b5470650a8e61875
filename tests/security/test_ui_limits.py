"""A limit reached in the UI says so in words, never crashes the page or drops a change silently.

Against the real app (the shared test server: its per-client creation limit is 40 a minute, the command
limit is the default 20 a second with bursts of 60). Other loopback addresses act as other clients.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid

import httpx
import pytest

from cardsort_app.ui.board_state import BoardState
from cardsort_app.ui.identity import IdentityState
from cardsort_app.ui.landing import LandingState
from tests.support.app_server import AppServer
from tests.support.ws_probe import WsTab, var

pytestmark = pytest.mark.security

SENTINEL = (LandingState.get_full_name() + ".set_title", "value")
ERROR_TOAST = "An error occurred"


def _move(card: str, from_pile: str, to_pile: str) -> dict[str, str]:
    """One card move as the board's change queue sends it (its own id: a resend never doubles)."""
    return {"id": str(uuid.uuid4()), "kind": "move", "cardId": card, "fromPile": from_pile, "toPile": to_pile}


def _wire(cls, name: str) -> str:
    return f"{cls.get_full_name()}.{name}"


async def test_too_many_sessions_from_one_address_says_so(app_server: AppServer) -> None:
    tab = WsTab(app_server.url, sentinel_event=SENTINEL, source="127.0.0.2")
    await tab.open("/", {})
    seen: list[str] = []
    started = time.monotonic()
    try:
        while len(seen) < 100 and not any(seen):
            frames = await tab.call(_wire(LandingState, "create"), {})
            assert not any(ERROR_TOAST in f for f in frames)
            seen.append(tab.get(LandingState, "create_error") or "")
    finally:
        await tab.close()
    refill = (time.monotonic() - started) * 40 / 60  # tokens that came back while this ran
    assert "Too many new sessions from your address" in seen[-1]
    assert 40 <= len(seen) - 1 <= 40 + math.ceil(refill)  # the burst of 40, and not earlier
    other = WsTab(app_server.url, sentinel_event=SENTINEL, source="127.0.0.3")
    await other.open("/", {})
    try:
        await other.call(_wire(LandingState, "create"), {})
        assert other.get(LandingState, "create_error") == "" and other.get(LandingState, "created_code")
    finally:
        await other.close()


async def test_commands_too_fast_are_refused_with_a_notice_and_counted(app_server: AppServer) -> None:
    async with httpx.AsyncClient(base_url=app_server.url, timeout=30) as api:
        created = (await api.post("/api/sessions", json={"deck": "values-mini"})).json()
    code, key = created["code"], created["facilitatorKey"]
    tab = WsTab(app_server.url, sentinel_event=SENTINEL, source="127.0.0.4")
    await tab.open(f"/s/{code}", {"code": code})
    try:
        await tab.call(_wire(BoardState, "set_join_name"), {"value": "Speedy"})
        await tab.call(_wire(BoardState, "join"), {"_form": {}})
        pid = tab.get(BoardState, "me")
        assert pid
        card = tab.get(BoardState, "piles")["unsorted"][0]["id"]
        start = len(tab.raw)
        piles = ("unsorted", "very-important")
        for i in range(400):  # as fast as the socket takes them: far beyond 20 a second
            await tab.send_raw(
                _wire(BoardState, "send_changes"),
                {"batch": {"batch": f"b{i}", "changes": [_move(card, piles[i % 2], piles[1 - i % 2])]}},
            )
        await tab.call(_wire(BoardState, "dismiss_notice"), {}, timeout=120)
        frames = tab.raw[start:]
        assert not any(ERROR_TOAST in f for f in frames)
        assert any("You are making changes very fast" in f for f in frames)
        async with httpx.AsyncClient(base_url=app_server.url, timeout=30) as api:
            r = await api.get(f"/api/sessions/{code}/events", headers={"Authorization": f"Bearer {key}"})
            moved = [e for e in r.json()["events"] if e["type"] == "CARD_MOVED" and e["participantId"] == pid]
            assert 60 <= len(moved) < 400  # the burst went through; the rest was refused, not lost
            view = (await api.get(f"/api/sessions/{code}", headers={"Authorization": f"Bearer {key}"})).json()
        where = next(p for p, cards in view["piles"][pid].items() if card in cards)
        shown = next(
            p for p, cards in tab.get(BoardState, "piles").items() if card in [c["id"] for c in cards]
        )
        assert shown == where  # the board shows what the log says
        await asyncio.sleep(1.5)  # tokens refill: a change lands again
        target = "important" if where != "important" else "not-important"
        await tab.call(
            _wire(BoardState, "send_changes"),
            {"batch": {"batch": "last", "changes": [_move(card, where, target)]}},
        )
        await tab.wait_for(
            lambda: card in [c["id"] for c in tab.get(BoardState, "piles")[target]],
            what="the move after waiting",
        )
        assert "very fast" not in (tab.get(BoardState, "notice") or "")
        stored = json.loads(tab.vars[IdentityState.get_full_name()][var("identities")])
        assert stored[code]["pid"] == pid
    finally:
        await tab.close()
