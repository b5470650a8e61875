"""The facilitator's workshop: pacing, the countdown, ending a session, anonymity, erasure.

Rules (``check_facilitation``), reduction (``apply_facilitation``) and builders for the events only the
facilitator makes (STEP_OPENED, TIMER_STARTED / TIMER_EXTENDED / TIMER_STOPPED, SESSION_ENDED) and for a
participant's PARTICIPANT_ERASED. ``rules.check`` and ``reducer.reduce`` delegate here, so these events go
through the same single gate and the same pure fold as every other event.

* Facilitator-paced sessions: a participant may move forward into step 2 or 3 only once the facilitator
  opened it (``open_step``); finishing step 3 (to 4, "done") needs no opening. Going back is always allowed.
* The countdown's end is an absolute instant (epoch ms) decided by the server: the reducer stores it, it
  never looks at a clock. At zero nothing is forced; the boards just say so.
* After SESSION_ENDED nothing changes any more except a participant leaving or erasing their name.
* Anonymous sessions show "Participant N" to other participants, N = join order (stable: participants are
  never removed from the projection).
"""

from __future__ import annotations

from dataclasses import replace

from .events import (
    FACILITATOR_ID,
    BaseEvent,
    Event,
    ParticipantErasedEvent,
    ParticipantLeftEvent,
    SessionCreatedEvent,
    SessionEndedEvent,
    StepOpenedEvent,
    TimerExtendedEvent,
    TimerStartedEvent,
    TimerStoppedEvent,
    new_event,
)
from .state import CardText, SessionState

__all__ = [
    "END_REASONS",
    "FACILITATION_EVENTS",
    "LAST_OPENABLE_STEP",
    "PACINGS",
    "TIMER_PRESETS",
    "allowed_after_end",
    "apply_created_options",
    "apply_facilitation",
    "created_options_problem",
    "facilitation_problem",
    "display_names",
    "end_session",
    "erase",
    "extend_timer",
    "open_step",
    "pacing_blocker",
    "start_timer",
    "steps_open",
    "stop_timer",
]

PACINGS = ("self", "facilitator")
END_REASONS = ("facilitator", "idle")

#: Countdown presets offered on the dashboard, in minutes.
TIMER_PRESETS = (3, 5, 10)

#: The events this module reduces and checks.
FACILITATION_EVENTS = (
    StepOpenedEvent,
    TimerStartedEvent,
    TimerExtendedEvent,
    TimerStoppedEvent,
    SessionEndedEvent,
    ParticipantErasedEvent,
)
_FACILITATOR_ONLY = (
    StepOpenedEvent,
    TimerStartedEvent,
    TimerExtendedEvent,
    TimerStoppedEvent,
    SessionEndedEvent,
)

#: The last step a facilitator opens; step 4 ("done") is reached by finishing step 3.
LAST_OPENABLE_STEP = 3


# --- derived facts ---------------------------------------------------------------------------------------
def steps_open(state: SessionState) -> int:
    """The highest step participants may work in: every step when self-paced."""
    return state.open_step if state.pacing == "facilitator" else LAST_OPENABLE_STEP


def pacing_blocker(state: SessionState, step: int) -> str | None:
    """Why a participant on ``step`` may not move forward yet because of pacing, or None."""
    target = step + 1
    if target <= LAST_OPENABLE_STEP and target > steps_open(state):
        return f"Waiting for the facilitator to open step {target}"
    return None


def display_names(state: SessionState) -> dict[str, str]:
    """What other participants see as each participant's name: "Participant N" when anonymous.

    N is the join order, stable for the session's life (a participant who left keeps their number).
    """
    if not state.anonymous:
        return {pid: p.name for pid, p in state.participants.items()}
    return {pid: f"Participant {n}" for n, pid in enumerate(state.participants, start=1)}


def allowed_after_end(event: BaseEvent) -> bool:
    """Once a session ended, a participant may still leave and erase their name; nothing else."""
    return isinstance(event, ParticipantLeftEvent | ParticipantErasedEvent)


# --- rules -----------------------------------------------------------------------------------------------
def facilitation_problem(state: SessionState, event: BaseEvent) -> str | None:
    """Why a facilitation event may not be appended to ``state`` (``rules.check`` raises it), or None."""
    if isinstance(event, _FACILITATOR_ONLY) and event.participant_id != FACILITATOR_ID:
        return "Only the facilitator can do that"
    if isinstance(event, StepOpenedEvent):
        if state.pacing != "facilitator":
            return "This session is self-paced: every step is already open"
        if event.payload.step <= state.open_step:
            return f"Step {event.payload.step} is already open"
    elif isinstance(event, TimerExtendedEvent):
        if state.timer_ends_at is None:
            return "No timer is running"
        if event.payload.ends_at <= state.timer_ends_at:
            return "Adding time must move the end of the timer later"
    elif isinstance(event, TimerStoppedEvent):
        if state.timer_ends_at is None:
            return "No timer is running"
    elif isinstance(event, SessionEndedEvent):
        if state.ended:
            return "This session has already ended"
    elif isinstance(event, ParticipantErasedEvent):
        person = state.participant(event.participant_id)
        if person is None:
            return "You are not part of this session"
        if not person.active and not person.name:
            return "Your name is already erased"
    return None


def created_options_problem(event: SessionCreatedEvent) -> str | None:
    """A custom deck must list exactly the session's cards, in order."""
    cards = event.payload.cards
    if cards is not None and tuple(c.id for c in cards) != event.payload.card_ids:
        return "The deck's cards do not match the session's card ids"
    return None


# --- reducer ---------------------------------------------------------------------------------------------
def apply_created_options(state: SessionState, event: SessionCreatedEvent) -> SessionState:
    p = event.payload
    return replace(
        state,
        anonymous=bool(p.anonymous),
        pacing=p.pacing or "self",
        open_step=1,
        custom_cards=tuple(CardText(c.id, c.label, c.description) for c in p.cards or ()),
    )


def apply_facilitation(state: SessionState, event: BaseEvent) -> SessionState:
    """Reduce one facilitation event (total: an event that would not pass the rules changes nothing odd)."""
    if isinstance(event, StepOpenedEvent):
        return replace(state, open_step=max(state.open_step, event.payload.step))
    if isinstance(event, TimerStartedEvent | TimerExtendedEvent):
        return replace(state, timer_ends_at=event.payload.ends_at, timer_seconds=event.payload.seconds)
    if isinstance(event, TimerStoppedEvent):
        return replace(state, timer_ends_at=None, timer_seconds=0)
    if isinstance(event, SessionEndedEvent):
        return replace(
            state, ended=True, ended_reason=event.payload.reason, timer_ends_at=None, timer_seconds=0
        )
    if isinstance(event, ParticipantErasedEvent):
        person = state.participant(event.participant_id)
        if person is None:
            return state
        participants = dict(state.participants)
        participants[person.id] = replace(person, name="", active=False)
        reveals = tuple(r for r in state.reveals if r.participant_id != person.id)
        return replace(state, participants=participants, reveals=reveals)
    raise TypeError(f"not a facilitation event: {event!r}")


# --- builders (unsequenced events; pass them to rules.check) ---------------------------------------------
def _facilitator_event(cls: type[BaseEvent], state: SessionState, **payload: object) -> Event:
    return new_event(
        cls, session_code=state.code, participant_id=FACILITATOR_ID, version=state.version, **payload
    )


def open_step(state: SessionState, step: int) -> Event:
    return _facilitator_event(StepOpenedEvent, state, step=step)


def start_timer(state: SessionState, seconds: int, now_ms: int) -> Event:
    return _facilitator_event(TimerStartedEvent, state, seconds=seconds, ends_at=now_ms + seconds * 1000)


def extend_timer(state: SessionState, seconds: int, now_ms: int) -> Event:
    """Add ``seconds`` to the running countdown; one that already reached zero restarts from now."""
    base = max(state.timer_ends_at or now_ms, now_ms)
    total = state.timer_seconds + seconds
    return _facilitator_event(
        TimerExtendedEvent, state, seconds=min(total, 4 * 3600), ends_at=base + seconds * 1000
    )


def stop_timer(state: SessionState) -> Event:
    return _facilitator_event(TimerStoppedEvent, state)


def end_session(state: SessionState, reason: str = "facilitator") -> Event:
    return _facilitator_event(SessionEndedEvent, state, reason=reason)


def erase(state: SessionState, participant_id: str) -> Event:
    return new_event(
        ParticipantErasedEvent, session_code=state.code, participant_id=participant_id, version=state.version
    )
