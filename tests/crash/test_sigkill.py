"""Crash safety (issue 7, item 7): SIGKILL the server while 10 participants send 2,000 changes.

Ten headless tabs (tests/support/reflex_ws.py: the built frontend's websocket protocol) each send 200
card moves through `BoardState.send_changes`, as the board's change queue does: a few at a time, each with
an id the tab chose, the next batch once the last was acknowledged. When about half are acknowledged the
server gets SIGKILL (no graceful shutdown), then restarts on the same port and database. Every tab then
reconnects and sends again whatever it holds unacknowledged (same ids), as the queue does, then the rest.

Afterwards: every change acknowledged to its tab is in the log exactly once (before and after the kill),
no id is in the log twice, nothing was refused, the log's seqs are gapless and every event parses (nothing
half-written), the state REST serves equals the replay of the log with the domain reducer, and every
reconnected tab shows exactly its participant's piles from that replay.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx
import websockets

from cardsort_app.domain.events import parse_event
from cardsort_app.domain.reducer import replay
from cardsort_app.ui.board_state import BoardState
from tests.support.app_server import AppServer
from tests.support.reflex_ws import BOARD, Tab, TabClosed, join_board, load_board

PARTICIPANTS = 10
CHANGES_EACH = 200  # 2,000 in all
BATCH = 4  # changes per send_changes call (the browser's queue sends everything pending, up to 50)
KILL_AFTER = PARTICIPANTS * CHANGES_EACH // 2  # acknowledged changes before the SIGKILL
TIMEOUT = 60.0
PILES = ("very-important", "important", "not-important")


@dataclass
class Participant:
    """One tab and its queue: the changes it still has to send, oldest first."""

    tab: Tab
    plan: list[dict] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    resent_after_kill: int = 0
    rate_limited: int = 0

    def make_plan(self, cards: list[str]) -> None:
        """200 valid step-1 moves: each card out of `unsorted`, then round the three piles."""
        where = dict.fromkeys(cards, "unsorted")
        for i in range(CHANGES_EACH):
            card = cards[i % len(cards)]
            src = where[card]
            dst = PILES[(PILES.index(src) + 1) % 3] if src in PILES else PILES[i % 3]
            move = {"kind": "move", "cardId": card, "fromPile": src, "toPile": dst}
            self.plan.append({"id": str(uuid.uuid4()), **move})
            where[card] = dst


async def _send_until_done(p: Participant, counter: dict, killed: asyncio.Event) -> None:
    """Send the queue in batches; each leaves the queue only when acknowledged (TabClosed on a kill)."""
    while p.plan:
        batch_id = str(uuid.uuid4())
        changes = p.plan[:BATCH]
        await p.tab.send(BoardState, "send_changes", batch={"batch": batch_id, "changes": changes})
        await p.tab.until(
            lambda b=batch_id: (p.tab.get(BOARD, "acks") or {}).get("batch") == b, TIMEOUT, "the acks"
        )
        acks = p.tab.get(BOARD, "acks")
        results = {r["id"]: r for r in acks["results"]}
        answered = [c for c in changes if c["id"] in results]  # in order: the server stops at a rate limit
        for change in answered:
            result = results[change["id"]]
            if result["ok"]:
                p.acked.append(change["id"])
            else:
                p.refused.append((change["id"], result["reason"]))
        del p.plan[: len(answered)]
        counter["acked"] += len(answered)
        if acks.get("retryAfter"):
            p.rate_limited += 1
            await asyncio.sleep(
                acks["retryAfter"]
            )  # as the browser's queue does: wait as told, send the rest
        if killed.is_set():
            continue
        if counter["acked"] >= KILL_AFTER:
            killed.set()


async def _log(server: AppServer, code: str, auth: dict[str, str]) -> list[dict]:
    """The whole log through REST, page by page."""
    events: list[dict] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as api:
        while True:
            r = await api.get(
                f"/api/sessions/{code}/events",
                params={"after": events[-1]["seq"] if events else 0, "limit": 1000},
                headers=auth,
            )
            assert r.status_code == 200, r.text
            if not r.json()["events"]:
                return events
            events += r.json()["events"]


async def _run(server: AppServer, code: str, auth: dict[str, str]) -> tuple[list[Participant], dict]:
    ws_base = server.url.replace("http://", "ws://")
    people = [Participant(Tab(ws_base, f"K{i:02d}")) for i in range(PARTICIPANTS)]
    await asyncio.gather(*(join_board(p.tab, code, TIMEOUT) for p in people))
    for p in people:
        p.make_plan([c["id"] for c in p.tab.get(BOARD, "piles")["unsorted"]])
    counter = {"acked": 0}
    killed = asyncio.Event()
    senders = [asyncio.create_task(_send_until_done(p, counter, killed)) for p in people]
    await asyncio.wait_for(killed.wait(), TIMEOUT * 5)

    started = time.monotonic()
    await asyncio.to_thread(server.stop, signal.SIGKILL)
    stats = {"acked_before_kill": counter["acked"]}
    outcomes = await asyncio.gather(*senders, return_exceptions=True)
    for outcome in outcomes:  # the kill ends every tab's socket mid-wait: nothing else may go wrong
        assert outcome is None or isinstance(outcome, (TabClosed, websockets.ConnectionClosed)), outcome
    in_flight = {c["id"] for p in people for c in p.plan[:BATCH]}  # sent, not acknowledged (at most)
    await asyncio.to_thread(server.start)
    stats["restart_s"] = round(time.monotonic() - started, 1)
    logged = await _log(server, code, auth)
    # Appended before the kill but never acknowledged: the resend below must confirm them, not double them.
    stats["landed_unacked"] = len(in_flight & {e["id"] for e in logged})
    stats["in_flight_at_kill"] = len(in_flight)

    for p in people:  # reconnect (same tab token, identity from localStorage) and send the rest
        await p.tab.close()
        p.resent_after_kill = len(p.plan)
        await load_board(p.tab, code, TIMEOUT)
    await asyncio.gather(*(_send_until_done(p, counter, killed) for p in people))
    stats["acked_total"] = sum(len(p.acked) for p in people)
    return people, stats


def test_sigkill_under_load_loses_nothing_acknowledged_and_doubles_nothing(app_server: AppServer) -> None:
    server = app_server  # the run's shared app: killed and restarted on the same port and database
    api = httpx.Client(base_url=server.url, timeout=30)
    created = api.post("/api/sessions", json={"deck": "values", "title": "crash"}).json()
    code, auth = created["code"], {"Authorization": f"Bearer {created['facilitatorKey']}"}

    people, stats = asyncio.run(_run(server, code, auth))
    try:
        events = asyncio.run(_log(server, code, auth))
        parsed = [parse_event(e) for e in events]  # nothing half-written: every stored event parses
        assert [e.seq for e in parsed] == list(range(1, len(parsed) + 1))
        ids = Counter(e.id for e in parsed)
        assert not [i for i, n in ids.items() if n > 1], "an event id is in the log twice"
        acked = [i for p in people for i in p.acked]
        assert len(acked) == PARTICIPANTS * CHANGES_EACH
        assert [p.refused for p in people] == [[] for _ in people]
        assert all(ids[i] == 1 for i in acked), "an acknowledged change is missing from the log"
        moves = [e for e in parsed if e.type == "CARD_MOVED"]
        assert len(moves) == PARTICIPANTS * CHANGES_EACH

        state = replay(parsed)
        rest = api.get(f"/api/sessions/{code}", headers=auth).json()
        assert rest["version"] == state.version
        for p in people:
            person = state.participant(p.tab.pid)
            expected = {pile: list(person.pile(pile)) for pile in ("unsorted", *PILES, "top8", "top3")}
            assert {k: rest["piles"][p.tab.pid][k] for k in expected} == expected
            shown = {k: [c["id"] for c in v] for k, v in p.tab.get(BOARD, "piles").items()}
            assert {k: shown[k] for k in expected} == expected, f"{p.tab.name}'s tab disagrees with the log"
        print(  # the numbers for the report (pytest -s)
            f"\ncrash: {stats['acked_before_kill']} acknowledged before SIGKILL, "
            f"up to {stats['in_flight_at_kill']} sent and unacknowledged, {stats['landed_unacked']} of them "
            f"already in the log; {sum(p.resent_after_kill for p in people)} queued changes sent after the "
            f"restart ({stats['restart_s']} s), "
            f"{stats['acked_total']} acknowledged in all, "
            f"{len(moves)} moves in the log, {len(parsed)} events, "
            f"{sum(p.rate_limited for p in people)} batches cut short by the command rate limit"
        )
    finally:
        api.close()
        asyncio.run(_close(people))


async def _close(people: list[Participant]) -> None:
    for p in people:
        await p.tab.close()
