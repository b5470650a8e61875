"""Time travel on the dashboard: a slider over the session's seq rebuilds what everyone saw at that event.

The state at a seq comes from the same reducers as the live view: the newest snapshot at or before it plus
the events up to it (``EventStore.load_at``), so a jump anywhere costs at most one snapshot read and
``snapshot_every`` events. This state is separate from DashboardState, so live pushes never touch the
replay and scrubbing never touches the live view.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import reflex as rx

from cardsort_app.domain import team
from cardsort_app.domain.rules import PILE_LABELS
from cardsort_app.domain.state import PILES, SessionState
from cardsort_app.service.errors import ServiceError
from cardsort_app.service.runtime import get_runtime
from cardsort_app.ui.board_state import _card, _deck
from cardsort_app.ui.guard import BadArgument, page_code
from cardsort_app.ui.identity import IdentityState

#: Playback speeds offered (events per second).
SPEEDS = (1, 5, 20, 100)
_TICK_S = 0.2
MAX_KEY_CHARS = 200


def replay_rows(state: SessionState, online: set[str]) -> list[dict[str, Any]]:
    """The live participants table's rows (dashboard_state.progress_rows), built for a past state, plus
    each participant's piles by card name."""
    deck = _deck(state)
    revealed = {(r.participant_id, str(r.reveal_type)) for r in state.reveals}

    def names(cards: tuple[str, ...] | list[str]) -> str:
        return ", ".join(_card(deck, c)["name"] for c in cards)

    rows = []
    for p in state.active_participants:
        sorted_count = len(state.card_ids) - len(p.pile("unsorted"))
        top3, top8 = p.pile("top3"), p.pile("top8")
        # The furthest they got, in one line: their top 3, else their top 8, else how far along.
        headline = (
            f"Top 3: {names(top3)}"
            if top3
            else f"Top 8: {names(top8)}"
            if top8
            else f"{sorted_count} of {len(state.card_ids)} cards sorted"
        )
        rows.append(
            {
                "id": p.id,
                "name": p.name,
                "step": p.step,
                "online": "true" if p.id in online else "false",
                "counts": {pile: len(p.pile(pile)) for pile in PILES},
                "sorted": sorted_count,
                "revealed_top8": (p.id, "top8") in revealed,
                "revealed_top3": (p.id, "top3") in revealed,
                "headline": headline,
                "piles": [
                    {
                        "pile": PILE_LABELS[pile],  # type: ignore[index]  # a Pile is its str value
                        "cards": names(p.pile(pile)),
                    }
                    for pile in PILES
                    if p.pile(pile)
                ],
            }
        )
    return rows


class ReplayState(IdentityState):
    replay_ready: bool = False
    seq: int = 0
    max_seq: int = 0
    playing: bool = False
    speed: int = SPEEDS[1]
    rows: list[dict[str, Any]] = []
    team_open: bool = False
    team_locked: bool = False
    team_values: list[str] = []
    team_candidates: list[str] = []
    event_label: str = ""
    jump_ms: str = ""
    _code: str = ""
    _key: str = ""
    _run: int = 0  # which play loop may advance: a pause then play within one tick must not leave two

    def _forget(self) -> None:
        """No verified session in this tab: nothing of any session stays visible."""
        self._code, self._key, self.replay_ready, self.playing = "", "", False, False
        self.seq, self.max_seq, self.rows, self.event_label, self.jump_ms = 0, 0, [], "", ""
        self.team_open, self.team_locked, self.team_values, self.team_candidates = False, False, [], []

    @rx.event
    async def load(self):
        """On the dashboard's load: verify the facilitator key for this tab, start at the head."""
        self._forget()
        code = page_code(self.router)
        key = self.router.url.query_parameters.get("key") or self._facilitator_key_for(code) or ""
        if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
            return
        try:
            code = await get_runtime().service.check_facilitator(code, key)
        except ServiceError:
            return
        self._code, self._key = code, key
        self.replay_ready = True
        head = (await get_runtime().queries.state(code)).version
        await self._show(head)

    async def _show(self, seq: int) -> None:
        rt = get_runtime()
        self.max_seq = (await rt.queries.state(self._code)).version
        seq = min(max(0, seq), self.max_seq)
        started = time.perf_counter()
        state = await rt.queries.state_at(self._code, seq)
        self.jump_ms = f"{(time.perf_counter() - started) * 1000:.1f}"
        self.seq = seq
        self.rows = replay_rows(state, rt.queries.online(self._code))
        self.team_open, self.team_locked = state.team.open, state.team.locked
        # Assigned only when they changed: an assigned var goes into the delta even if equal, and most
        # jumps (and every playback tick) leave the team board as it was.
        values = [team.card_label(state, c) for c in state.team.values]
        candidates = [f"{team.card_label(state, c)} ×{n}" for c, n in team.candidates(state)]
        if values != self.team_values:
            self.team_values = values
        if candidates != self.team_candidates:
            self.team_candidates = candidates
        self.event_label = await self._label(seq)

    async def _label(self, seq: int) -> str:
        if seq <= 0:
            return "before the first event"
        events = await get_runtime().queries.events_after(self._code, seq - 1, 1)
        return f"#{seq} {events[0].type}" if events else f"#{seq}"

    @rx.event
    async def scrub(self, value: str | int | float):
        """The slider moved (the value is the seq); stops playback."""
        if isinstance(value, bool) or not isinstance(value, str | int | float) or len(str(value)) > 24:
            raise BadArgument("the replay position must be a number")
        try:
            seq = int(float(value))
        except (ValueError, OverflowError) as exc:
            raise BadArgument("the replay position must be a number") from exc
        if not self.replay_ready:
            return
        self.playing = False
        await self._show(seq)

    @rx.event
    def set_speed(self, value: str):
        if not isinstance(value, str) or value not in {str(s) for s in SPEEDS}:
            raise BadArgument("not a replay speed")
        if self.replay_ready:
            self.speed = int(value)

    @rx.event
    def toggle_play(self):
        if not self.replay_ready:
            return None
        if self.playing:
            self.playing = False
            return None
        return ReplayState.play

    @rx.event(background=True)
    async def play(self):
        """Advance `speed` events per second until the head (or pause)."""
        async with self:
            if not self.replay_ready or self.playing:
                return
            self.playing = True
            self._run += 1
            run = self._run
            self.max_seq = (await get_runtime().queries.state(self._code)).version
            if self.seq >= self.max_seq:  # at the head: play from the start
                await self._show(0)
        while True:
            async with self:
                speed = self.speed
            # One event per tick below 1/_TICK_S events/s (speed 1 waits a second), several per tick above.
            tick = max(_TICK_S, 1 / speed)
            await asyncio.sleep(tick)
            async with self:
                if not self.playing or self._run != run:
                    return
                await self._show(self.seq + max(1, round(self.speed * tick)))
                if self.seq >= self.max_seq:
                    self.playing = False
                    return
