"""The live feeds rebuild only the participants a change touched: what a tab shows must not differ.

After every change of a random workshop (moves, steps, joins, leaves, reveals, erasures, presence), the
rows a browser holds from the frames (merged with the rule of cardsort_live.jsx: a row replaces the shown
one when its stamp is newer, a tombstone hides it) equal the rows built from scratch for that state, for
the participants' feed and the facilitator's (progress, selections, reveals, the event log).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from typing import Any

import pytest

from cardsort_app.domain import facilitation, rules
from cardsort_app.domain.decks import load_deck
from cardsort_app.domain.events import Event
from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.state import SessionState
from cardsort_app.ui import dashboard_state
from cardsort_app.ui.board_state import participant_rows, reveal_rows
from cardsort_app.ui.live import RECENT_EVENTS, live
from cardsort_app.ui.live_feed import FACILITATOR, SessionFeed
from cardsort_app.ui.workshop_view import selection_rows

CODE = "PARTIAL"
LISTS = {"rows": "id", "reveals": "key", "selections": "id", "log": "id"}


class Browser:
    """The browser-side store of one feed (cardsort_live.jsx), without the cross-worker rule."""

    def __init__(self) -> None:
        self.lists: dict[str, dict[Any, dict[str, Any]]] = {name: {} for name in LISTS}

    def apply(self, frame: dict[str, Any]) -> None:
        for name, key in LISTS.items():
            for row in frame.get(name) or []:
                shown = self.lists[name].get(row[key])
                if shown is None or row["ps"] >= shown["ps"]:
                    self.lists[name][row[key]] = row

    def view(self, name: str) -> list[dict[str, Any]]:
        rows = sorted((r for r in self.lists[name].values() if not r.get("gone")), key=lambda r: r["n"])
        return [{k: v for k, v in r.items() if k not in ("n", "seq", "ps", "w")} for r in rows]


def _plain(rows: list[dict[str, Any]], key: str = "") -> list[dict[str, Any]]:
    out = []
    for r in rows:
        row = {k: v for k, v in r.items() if k != "n"}
        if key == "reveals":
            row["key"] = f"{r['participant_id']}:{r['reveal_type']}"
        out.append(row)
    return out


def _next_event(rng: random.Random, state: SessionState, people: list[str]) -> Event | None:
    pid = rng.choice(people)
    person = state.participant(pid)
    roll = rng.random()
    try:
        event = _pick(rng, state, pid, person, roll)
        rules.check(state, event)
        return event
    except Exception:  # not allowed right now (the rules say why): try something else
        return None


def _pick(rng: random.Random, state: SessionState, pid: str, person: Any, roll: float) -> Event:
    """A change `pid` could make now (the rules may still refuse it: the caller checks)."""
    if person is None or (roll < 0.5 and not person.active):
        return rules.join(state, pid, person.name if person else f"Person {pid}")
    if roll < 0.01:
        return rules.leave(state, pid)
    if roll < 0.05 and pid == "p05":  # one participant erases their name (for good)
        return facilitation.erase(state, pid)
    if roll < 0.2 and person.step >= 2:
        return rules.reveal(state, pid, "top8" if person.step < 4 else "top3")
    if roll < 0.35:
        return rules.transition(state, pid, rng.choice((1, -1)))
    if person.step == 2 and len(person.pile("top8")) < 8:  # choosing the top 8, to reveal it
        source = next(p for p in ("very-important", "important", "not-important") if person.pile(p))
        return rules.move_card(state, pid, person.pile(source)[0], "top8")
    sortable = ("very-important", "important", "not-important", "top8")
    piles = [p for p in ("unsorted", *sortable) if person.pile(p)]
    source = "unsorted" if person.pile("unsorted") and rng.random() < 0.9 else rng.choice(piles)
    target = rng.choice([p for p in sortable if p != source])
    return rules.move_card(state, pid, person.pile(source)[0], target)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_partial_rebuilds_show_what_full_rebuilds_show(seed: int) -> None:
    rng = random.Random(seed)
    cards = load_deck("values").card_ids
    created = rules.create_session(CODE, "Partial", "values", cards, anonymous=seed == 2).sequenced(1)
    state = reduce(SessionState.empty(CODE), created)
    people = [f"p{i:02d}" for i in range(6)]
    online: set[str] = set()
    made: Counter[str] = Counter()
    current = {"state": state}
    frames: dict[str, list[dict[str, Any]]] = {"": [], FACILITATOR: []}
    live.recent[CODE] = deque([created], maxlen=RECENT_EVENTS)
    live.by_session[CODE] = {"test"}
    audience = live.audiences[FACILITATOR]

    def feed(name: str, rows: Any, reveals: Any, lists: Any, windows: Any) -> SessionFeed:
        def emit_now(_room: str, frame: dict[str, Any]) -> bool:
            frames[name].append(frame)
            return True

        async def emit(_room: str, frame: dict[str, Any]) -> None:  # never used: emit_now takes every frame
            raise AssertionError(frame)

        return SessionFeed(
            CODE,
            lambda: current["state"],
            lambda: online,
            rows,
            reveals,
            emit,
            audience=name,
            lists=lists,
            windows=windows,
            emit_now=emit_now,
        )

    try:
        participants = feed("", participant_rows, reveal_rows, {}, {})
        facilitator = feed(FACILITATOR, audience.rows, audience.reveals, audience.lists, audience.windows)
        browsers = {"": Browser(), FACILITATOR: Browser()}
        for name, f in (("", participants), (FACILITATOR, facilitator)):
            browsers[name].apply(f.snapshot())
        await asyncio.sleep(0)
        for _ in range(1500):
            if rng.random() < 0.15:  # someone's tab comes or goes
                online ^= {rng.choice(people)}
            else:
                event = _next_event(rng, current["state"], people)
                if event is None:
                    continue
                event = event.sequenced(current["state"].version + 1)
                current["state"] = reduce(current["state"], event)
                live.recent[CODE].append(event)
                made[str(event.type)] += 1
            participants.push_now()
            facilitator.push_now()
            await asyncio.sleep(0)  # a frame that had to queue leaves now
            for name in browsers:
                for frame in frames[name]:
                    browsers[name].apply(frame)
                frames[name].clear()
            now = current["state"]
            assert browsers[""].view("rows") == _plain(participant_rows(now, online))
            assert browsers[""].view("reveals") == _plain(reveal_rows(now), "reveals")
            shown = browsers[FACILITATOR]
            assert shown.view("rows") == _plain(dashboard_state.progress_rows(now, online))
            assert shown.view("reveals") == _plain(reveal_rows(now, real_names=True), "reveals")
            assert shown.view("selections") == _plain(selection_rows(now))
            log = shown.view("log")
            assert [r["id"] for r in log] == list(range(now.version, max(0, now.version - 100), -1))
            assert log[0]["type"] == str(live.recent[CODE][-1].type)
        # The log keeps only its window, whatever the session's length (a reloading tab gets just that).
        assert len(facilitator.snapshot()["log"]) == min(100, current["state"].version)
        kinds = {
            "CARD_MOVED",
            "STEP_TRANSITIONED",
            "PARTICIPANT_LEFT",
            "PARTICIPANT_ERASED",
            "SELECTION_REVEALED",
        }
        assert kinds <= set(made), f"the walk never made {kinds - set(made)}"
    finally:
        live.recent.pop(CODE, None)
        live.by_session.pop(CODE, None)
