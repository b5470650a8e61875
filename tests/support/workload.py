"""A generated, valid session workload: many participants sorting, revealing, going back, leaving and
rejoining, then a team board -- every event built by the rules' own builders and checked before use.

Seeded, so a failure is reproducible: `workload(state, n_events=3000, seed=7)`.
"""

from __future__ import annotations

import random

from cardsort_app.domain import rules, team
from cardsort_app.domain.events import FACILITATOR_ID, Event, Pile
from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.state import SessionState

SORT_PILES = (Pile.VERY_IMPORTANT, Pile.IMPORTANT, Pile.NOT_IMPORTANT)


def _commit(state: SessionState, event: Event, out: list[Event]) -> SessionState:
    rules.check(state, event)
    sequenced = event.sequenced(state.version + 1)
    out.append(event)
    return reduce(state, sequenced)


def _progress(state: SessionState, pid: str, rng: random.Random) -> Event | None:
    """The next sensible action of a participant who wants to finish (None when nothing fits)."""
    person = state.participants[pid]
    top8_size, top3_size = rules.selection_sizes(len(state.card_ids))
    if rules.step_blocker(state, person) is None and person.step < rules.FINAL_STEP:
        return rules.transition(state, pid, +1)
    if person.step == 1:
        card = rng.choice(person.pile(Pile.UNSORTED))
        return rules.move_card(state, pid, card, rng.choice(SORT_PILES))
    if person.step == 2 and len(person.pile(Pile.TOP8)) < top8_size:
        source = [c for p in SORT_PILES for c in person.pile(p)]
        return rules.move_card(state, pid, rng.choice(source), Pile.TOP8, rng.randint(0, 8))
    if person.step == 3 and len(person.pile(Pile.TOP3)) < top3_size:
        return rules.move_card(state, pid, rng.choice(person.pile(Pile.TOP8)), Pile.TOP3)
    return None


def workload(
    state: SessionState, *, people: int = 12, n_events: int = 3000, seed: int = 1
) -> tuple[list[Event], SessionState]:
    """Unsequenced events (in log order) that take `state` (a created session) through a busy workshop,
    and the state they end in. Ends with an open, filled and locked team board."""
    rng = random.Random(seed)
    out: list[Event] = []
    for i in range(people):
        state = _commit(state, rules.join(state, f"w{seed}-{i}", f"Person {i}"), out)
    while len(out) < n_events:
        pid = rng.choice(list(state.participants))
        person = state.participants[pid]
        roll = rng.random()
        try:
            if not person.active:
                event: Event | None = rules.join(state, pid, person.name) if roll < 0.3 else None
            elif roll < 0.01:
                event = rules.leave(state, pid)
            elif roll < 0.04 and person.step > 1:
                event = rules.transition(state, pid, -1)
            elif roll < 0.10 and person.step >= 3:
                event = rules.reveal(state, pid, "top3" if person.step == 4 else "top8")
            elif roll < 0.35 and person.step < rules.FINAL_STEP:  # shuffle a card within the step's piles
                allowed = sorted(rules.ALLOWED_PILES[person.step])
                src = rng.choice(allowed)
                cards = person.pile(src)
                dst = rng.choice([p for p in allowed if p != src])
                event = (
                    rules.move_card(state, pid, rng.choice(cards), dst, rng.randint(0, 5)) if cards else None
                )
            else:
                event = _progress(state, pid, rng)
            if event is not None:
                state = _commit(state, event, out)
        except rules.DomainError:
            continue  # e.g. a full pile: pick something else
    # Everyone still active finishes and reveals their top 3, then the team board.
    for pid in list(state.participants):
        if not state.participants[pid].active:
            state = _commit(state, rules.join(state, pid, state.participants[pid].name), out)
        while (event := _progress(state, pid, rng)) is not None:
            state = _commit(state, event, out)
        if state.reveal_of(pid, "top3") is None:
            state = _commit(state, rules.reveal(state, pid, "top3"), out)
    state = _commit(state, team.open_board(state), out)
    movers = [*state.participants, FACILITATOR_ID]
    for _ in range(40):
        cands = [c for c, _ in team.candidates(state)]
        values = state.team.values
        mover = rng.choice(movers)
        if values and (rng.random() < 0.4 or len(values) == team.TEAM_CAP or not cands):
            card = rng.choice(values)
            if rng.random() < 0.5 and len(values) > 1:
                target = rng.choice([i for i in range(len(values)) if i != values.index(card)])
                event = team.move(state, mover, card, "team-values", target)
            else:
                event = team.move(state, mover, card, "candidates")
        elif cands:
            event = team.move(state, mover, rng.choice(cands), "team-values", rng.randint(0, 5))
        else:
            continue
        state = _commit(state, event, out)
    state = _commit(state, team.lock_board(state), out)
    return out, state
