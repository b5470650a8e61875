"""A deterministic, realistic session log: a workshop of N people sorting the full deck, with second thoughts.

Every event is built with the domain's builders and passes `rules.check`, so the log is one the app could
have produced.
"""

from __future__ import annotations

import random

from cardsort_app.domain import rules
from cardsort_app.domain.decks import load_deck
from cardsort_app.domain.events import Event
from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.state import SessionState

CODE = "BENCH1"


def _commit(state: SessionState, event: Event, log: list[Event]) -> SessionState:
    rules.check(state, event)
    event = event.sequenced(state.version + 1)
    log.append(event)
    return reduce(state, event)


def session_log(n_events: int, participants: int = 30, deck: str = "values", seed: int = 7) -> list[Event]:
    """At least `n_events` sequenced events (it stops at the first round boundary past it)."""
    rng = random.Random(seed)
    cards = load_deck(deck).card_ids
    log: list[Event] = []
    state = _commit(SessionState.empty(CODE), rules.create_session(CODE, "Bench", deck, cards), log)
    people = [f"p{i:03d}" for i in range(participants)]
    for i, pid in enumerate(people):
        state = _commit(state, rules.join(state, pid, f"Person {i}"), log)
    piles = ["very-important", "important", "not-important"]
    while len(log) < n_events:
        for pid in people:
            person = state.participant(pid)
            if person.step == 1:
                unsorted = person.pile("unsorted")
                if unsorted:
                    event = rules.move_card(state, pid, unsorted[0], rng.choice(piles))
                elif rng.random() < 0.8:  # reconsiders a sorted card before finishing the step
                    source, target = rng.sample(piles, 2)
                    if not person.pile(source):
                        source, target = target, source
                    event = rules.move_card(state, pid, person.pile(source)[0], target)
                else:
                    event = rules.transition(state, pid, +1)
            elif person.step == 2:
                if len(person.pile("top8")) < 8:
                    source = next(p for p in piles if person.pile(p))
                    event = rules.move_card(state, pid, person.pile(source)[0], "top8")
                else:
                    event = rules.transition(state, pid, +1)
            elif person.step == 3:
                if len(person.pile("top3")) < 3:
                    event = rules.move_card(state, pid, person.pile("top8")[0], "top3")
                else:
                    event = rules.transition(state, pid, +1)
            else:  # done: second thoughts, back to step 1 and reshuffle a card
                event = rules.transition(state, pid, -1)
                if rng.random() < 0.5:
                    state = _commit(state, event, log)
                    event = rules.transition(state, pid, -1)
            state = _commit(state, event, log)
    return log
