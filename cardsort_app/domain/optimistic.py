"""Optimistic view of a session for one tab: confirmed state + the tab's own pending events.

The acting tab shows its change at once, before the log has sequenced it. What it shows is always
``confirmed`` (built only from sequenced events, in seq order) with the still-pending events folded on top.
Each confirmed event therefore *rebases* the pending ones: a pending event that no longer passes
``rules.check`` against the state before it (someone else's change won the race) is skipped, not applied,
so the view never shows something the server is about to refuse. When the server confirms or rejects an
event it leaves ``pending``; once nothing is pending the view equals the confirmed state exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

from .events import BaseEvent, Event
from .reducer import reduce
from .rules import DomainError, check
from .state import SessionState

__all__ = ["Gap", "OptimisticState"]


class Gap(Exception):
    """A confirmed event arrived ahead of its turn; fetch the log from ``expected`` and confirm in order."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"expected seq {expected}, got {got}: fetch the missing events first")
        self.expected = expected
        self.got = got


class OptimisticState:
    """The seed plan's OptimisticStateManager. Not thread-safe: one per tab, used from one task."""

    def __init__(self, confirmed: SessionState, pending: Iterable[Event | BaseEvent] = ()) -> None:
        self.confirmed = confirmed
        self.pending: list[Event | BaseEvent] = list(pending)
        self._view: SessionState | None = None
        self._skipped: tuple[str, ...] = ()

    @property
    def view(self) -> SessionState:
        """``pending`` folded over ``confirmed``, leaving out pending events that no longer apply."""
        if self._view is None:
            state = self.confirmed
            skipped = []
            for event in self.pending:
                try:
                    check(state, event)
                except DomainError:
                    skipped.append(event.id)
                    continue
                state = reduce(state, event)
            self._view, self._skipped = state, tuple(skipped)
        return self._view

    @property
    def skipped(self) -> tuple[str, ...]:
        """Ids of pending events the view currently leaves out (they will most likely be rejected)."""
        self.view  # noqa: B018 - computes _skipped
        return self._skipped

    def apply_optimistically(self, event: Event | BaseEvent) -> SessionState:
        """Record the tab's own (unsequenced) event as pending and return the new view."""
        self.pending.append(event)
        self._view = None
        return self.view

    def confirm(self, event: Event | BaseEvent) -> SessionState:
        """Apply a sequenced event from the server stream; events must come in seq order.

        Repeats (``seq <= confirmed.version``) are ignored; a gap raises :class:`Gap` and changes nothing.
        """
        if event.seq is None:
            raise ValueError("only sequenced events can be confirmed")
        expected = self.confirmed.version + 1
        if event.seq < expected:
            return self.view
        if event.seq > expected:
            raise Gap(expected, event.seq)
        self.confirmed = reduce(self.confirmed, event)
        self.pending = [e for e in self.pending if e.id != event.id]
        self._view = None
        return self.view

    def reject(self, event_id: str) -> SessionState:
        """Drop a pending event the server refused and return the rolled-back view."""
        self.pending = [e for e in self.pending if e.id != event_id]
        self._view = None
        return self.view

    def reset(self, confirmed: SessionState, *, keep_pending: bool = False) -> SessionState:
        """Start over from a freshly loaded state (e.g. after a reconnect); pending is cleared by default."""
        self.confirmed = confirmed
        if not keep_pending:
            self.pending = []
        self._view = None
        return self.view

    def is_pending(self, event_id: str) -> bool:
        return any(e.id == event_id for e in self.pending)
