"""Hypothesis strategies for valid Cardsort event logs (reusable by store/service tests).

``valid_log(draw)`` builds one session's log by repeatedly choosing among the moves that are legal *now*
(join, rejoin, leave, card moves, step forward/back, reveal), so every generated log passes ``rules.check``
event by event. Moves that make progress (sorting an unsorted card, filling the top 8/top 3, finishing a
step) are weighted up so that short logs still reach steps 3 and 4.

    from hypothesis import given
    from tests.unit.strategies import logs

    @given(logs())
    def test_something(log): ...
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from cardsort_app.domain import facilitation
from cardsort_app.domain.decks import load_deck
from cardsort_app.domain.events import Event, Pile
from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.rules import (
    ALLOWED_PILES,
    FINAL_STEP,
    check,
    create_session,
    is_noop,
    join,
    leave,
    move_card,
    reveal,
    reveal_shows,
    selection_sizes,
    step_blocker,
    transition,
)
from cardsort_app.domain.state import ParticipantState, SessionState

__all__ = ["CODE", "NAMES", "commit", "legal_moves", "logs", "valid_log"]

CODE = "PROP42"
NAMES = ("Ann", "Bo", "Cleo", "Dev")

# Repeats weight the choice: progress-making actions come up more often.
_WEIGHTS = {
    "join": 2,
    "rejoin": 3,
    "leave": 1,
    "move": 2,
    "progress": 12,
    "forward": 12,
    "back": 2,
    "reveal": 3,
    # The facilitator's actions and a participant's erasure (domain/facilitation.py).
    "open": 3,
    "timer_start": 1,
    "timer_extend": 1,
    "timer_stop": 1,
    "end": 1,
    "erase": 1,
}

#: A fixed clock for timer events: the reducer never reads a clock, so any instant will do.
_NOW_MS = 1_700_000_000_000


def commit(state: SessionState, event: Event) -> tuple[SessionState, Event]:
    """Check ``event`` against ``state``, sequence it as the log would, and apply it."""
    check(state, event)
    sequenced = event.sequenced(state.version + 1)
    return reduce(state, sequenced), sequenced


def legal_moves(state: SessionState, person: ParticipantState) -> list[tuple[str, Pile, Pile]]:
    """Every (card, from, to) move ``check`` accepts for ``person`` now."""
    if person.step >= FINAL_STEP:
        return []
    allowed = ALLOWED_PILES[person.step]
    top8_size, top3_size = selection_sizes(len(state.card_ids))
    limits = {Pile.TOP8: top8_size, Pile.TOP3: top3_size}
    moves = []
    for src in sorted(allowed):
        for card in person.pile(src):
            for dst in sorted(allowed):
                if dst != src and len(person.pile(dst)) < limits.get(dst, len(state.card_ids) + 1):
                    moves.append((card, src, dst))
    return moves


def _progress_moves(state: SessionState, person: ParticipantState) -> list[tuple[str, Pile, Pile]]:
    top8_size, top3_size = selection_sizes(len(state.card_ids))
    sortable = (Pile.VERY_IMPORTANT, Pile.IMPORTANT, Pile.NOT_IMPORTANT)
    if person.step == 1:
        return [(c, Pile.UNSORTED, dst) for c in person.pile(Pile.UNSORTED) for dst in sortable]
    if person.step == 2 and len(person.pile(Pile.TOP8)) < top8_size:
        return [(c, src, Pile.TOP8) for src in sortable for c in person.pile(src)]
    if person.step == 3 and len(person.pile(Pile.TOP3)) < top3_size:
        return [(c, Pile.TOP8, Pile.TOP3) for c in person.pile(Pile.TOP8)]
    return []


def _facilitator_actions(state: SessionState) -> list[tuple[str, str | None]]:
    actions: list[tuple[str, str | None]] = [("timer_start", None)]
    if state.version > 40:  # ending early would cut most logs short of steps 3 and 4
        actions.append(("end", None))
    if state.pacing == "facilitator" and state.open_step < facilitation.LAST_OPENABLE_STEP:
        actions.append(("open", None))
    if state.timer_ends_at is not None:
        actions += [("timer_extend", None), ("timer_stop", None)]
    return actions


def _actions(state: SessionState, max_people: int) -> list[tuple[str, str | None]]:
    if state.ended:  # only leaving and erasing are left
        actions = [("leave", p.id) for p in state.active_participants]
        actions += [("erase", p.id) for p in state.participants.values() if p.name]
        return [a for a in actions for _ in range(_WEIGHTS[a[0]])]
    actions = _facilitator_actions(state)
    if len(state.participants) < max_people:
        actions.append(("join", None))
    active_names = {p.name for p in state.active_participants}
    for person in state.participants.values():
        pid = person.id
        if person.name and state.version > 20:
            actions.append(("erase", pid))
        if not person.active:
            if person.name and person.name not in active_names:
                actions.append(("rejoin", pid))
            continue
        actions.append(("leave", pid))
        if legal_moves(state, person):
            actions.append(("move", pid))
        if _progress_moves(state, person):
            actions.append(("progress", pid))
        if (
            person.step < FINAL_STEP
            and step_blocker(state, person) is None
            and facilitation.pacing_blocker(state, person.step) is None
        ):
            actions.append(("forward", pid))
        if person.step > 1:
            actions.append(("back", pid))
        if _fresh_reveals(state, person):
            actions.append(("reveal", pid))
    return [a for a in actions for _ in range(_WEIGHTS[a[0]])]


def _fresh_reveals(state: SessionState, person: ParticipantState) -> list[str]:
    """What the participant may reveal that would change what shows (revealing it again is a no-op)."""
    types = {3: ["top8"], FINAL_STEP: ["top8", "top3"]}.get(person.step, [])
    return [t for t in types if not reveal_shows(state, person.id, t, person.selection(t))]


def _build(draw: Any, state: SessionState, kind: str, pid: str | None) -> Event:
    if kind == "join":
        k = len(state.participants)
        return join(state, f"p{k}", NAMES[k])
    if kind == "open":
        return facilitation.open_step(state, draw(st.integers(state.open_step + 1, 3)))
    if kind == "timer_start":
        return facilitation.start_timer(state, draw(st.sampled_from((60, 180, 300))), _NOW_MS + state.version)
    if kind == "timer_extend":
        return facilitation.extend_timer(state, 60, _NOW_MS + state.version)
    if kind == "timer_stop":
        return facilitation.stop_timer(state)
    if kind == "end":
        return facilitation.end_session(state, draw(st.sampled_from(facilitation.END_REASONS)))
    assert pid is not None
    if kind == "erase":
        return facilitation.erase(state, pid)
    person = state.participants[pid]
    if kind == "rejoin":
        return join(state, pid, person.name)
    if kind == "leave":
        return leave(state, pid)
    if kind in ("move", "progress"):
        options = legal_moves(state, person) if kind == "move" else _progress_moves(state, person)
        card, _src, dst = draw(st.sampled_from(options))
        position = draw(st.integers(0, len(person.pile(dst)) + 1))  # +1 exercises clamping
        return move_card(state, pid, card, dst, position)
    if kind == "forward":
        return transition(state, pid, +1)
    if kind == "back":
        return transition(state, pid, -1)
    if kind == "reveal":
        return reveal(state, pid, draw(st.sampled_from(_fresh_reveals(state, person))))
    raise AssertionError(kind)


def valid_log(draw: Any, *, deck: str = "values-mini", max_events: int = 80, code: str = CODE) -> list[Event]:
    """A list of sequenced events (seq 1..n) for one session, valid event by event.

    Usable directly inside ``@st.composite`` functions or ``st.data()`` tests: ``valid_log(data.draw)``.
    """
    # A prefix of the deck: small decks reach steps 3 and 4 in few events and exercise the
    # "top 8 of a 5-card deck" sizes; the full deck exercises the usual 8 and 3.
    all_ids = load_deck(deck).card_ids
    card_ids = all_ids[: draw(st.integers(1, len(all_ids)))]
    state = SessionState.empty(code)
    created = create_session(
        code,
        "Property test",
        deck,
        card_ids,
        anonymous=draw(st.sampled_from((None, False, True))),
        pacing=draw(st.sampled_from((None, *facilitation.PACINGS))),
    )
    state, first = commit(state, created)
    log: list[Event] = [first]
    max_people = draw(st.integers(1, len(NAMES)))
    for _ in range(draw(st.integers(0, max_events))):
        actions = _actions(state, max_people)
        if not actions:
            break
        kind, pid = draw(st.sampled_from(actions))
        event = _build(draw, state, kind, pid)
        assert not is_noop(state, event), event
        state, event = commit(state, event)
        log.append(event)
    return log


@st.composite
def logs(draw: Any, *, deck: str = "values-mini", max_events: int = 80) -> list[Event]:
    """Strategy form of :func:`valid_log`."""
    return valid_log(draw, deck=deck, max_events=max_events)
