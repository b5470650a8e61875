"""Per-tab state of the team board `/s/{code}/team`, edited by every participant and the facilitator.

Like the participant board the tab shows its own move at once (optimistic) and settles it when the log
sequences it. Every move carries what the tab *showed* (the card's pile and index, the view's version),
so when two people move the same card at the same moment the log's first one wins everywhere and the
other tab rolls back with a notice naming the winner (``domain/team.py``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx

from cardsort_app.domain import rules, team
from cardsort_app.domain.events import (
    FACILITATOR_ID,
    Event,
    InvalidEvent,
    TeamCardMovedEvent,
    TeamPile,
    new_event,
)
from cardsort_app.domain.optimistic import OptimisticState
from cardsort_app.domain.rules import DomainError
from cardsort_app.domain.state import SessionState
from cardsort_app.service.errors import Forbidden, Rejected, ServiceError, SessionNotFound
from cardsort_app.service.runtime import get_runtime
from cardsort_app.ui.board_state import _card, _deck
from cardsort_app.ui.guard import BadArgument, int_arg, page_code, text_arg
from cardsort_app.ui.identity import IdentityState
from cardsort_app.ui.live import live
from cardsort_app.ui.resend import ResentCommands, Then

#: What a card's menu offers, and which pile each action needs the card to be shown in.
MENU_ACTIONS = {
    "move-to-team-values": TeamPile.CANDIDATES,
    "move-to-candidates": TeamPile.TEAM_VALUES,
    "move-up": TeamPile.TEAM_VALUES,
    "move-down": TeamPile.TEAM_VALUES,
}
_PILES = {p.value for p in TeamPile}
_UNDONE = " — your move was undone."
MAX_KEY_CHARS = 200
MAX_CARD_CHARS = 64
MAX_VERSION = 2**62


def team_cards(state: SessionState) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(candidates, team values) as the page renders them: name, meaning, who chose / moved each."""
    deck = _deck(state)
    moves = state.team.moves

    def row(card_id: str, index: int, count: int) -> dict[str, Any]:
        mover = moves.get(card_id)
        return {
            **_card(deck, card_id),
            "index": index,
            "count": str(count),
            "by": mover.participant_name if mover else "",
        }

    counts = team.candidate_counts(state)
    candidates = [row(c, i, n) for i, (c, n) in enumerate(team.candidates(state))]
    values = [row(c, i, counts.get(c, 0)) for i, c in enumerate(state.team.values)]
    return candidates, values


def last_move(state: SessionState) -> str:
    """ "Sam moved Honesty to the team values": the newest move, for everyone to see who did what."""
    if not state.team.moves:
        return ""
    card, move = max(state.team.moves.items(), key=lambda item: item[1].seq)
    where = (
        f"to the team values (#{state.team.values.index(card) + 1})"
        if card in state.team.values
        else "back to the candidates"
    )
    return f"{move.participant_name or 'Someone'} moved {team.card_label(state, card)} {where}"


def _int(value: Any, default: int = -1) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


#: The team board's moves, as the browser's outbox sends them (name -> number of arguments).
TEAM_COMMANDS = {"menu": 4, "drop": 1}


class TeamState(ResentCommands, IdentityState):
    session_code: str = ""
    title: str = ""
    status: str = "loading"  # loading | ready | join | missing
    role: str = ""  # participant | facilitator
    my_name: str = ""
    board_open: bool = False
    locked: bool = False
    ended: bool = False  # the session ended: nothing moves any more, locked or not
    version: int = 0  # the view's version: sent back with every move ("what I saw")
    candidates: list[dict[str, Any]] = []
    values: list[dict[str, Any]] = []
    activity: str = ""
    notice: str = ""
    notice_kind: str = ""
    _code: str = ""  # set only once this tab proved who it is in that session
    _pid: str = ""
    _key: str = ""

    @rx.var
    def editable(self) -> bool:
        return self.board_open and not self.locked and not self.ended

    @rx.var
    def full(self) -> bool:
        return len(self.values) >= team.TEAM_CAP

    def _refuse_malformed(self, message: str) -> None:
        self._notify(message, "refused")

    def _forget(self) -> None:
        """Nobody proven in this tab: nothing of any session stays visible."""
        self._code, self._pid, self._key, self.role, self.my_name, self.title = "", "", "", "", "", ""
        self.board_open, self.locked, self.version, self.activity, self.notice = False, False, 0, "", ""
        self.candidates, self.values, self.ended = [], [], False

    @rx.event
    async def load(self):
        """Who is this tab: a participant of the session (its stored identity) or its facilitator (the
        key in the link, or remembered by this browser)."""
        code = page_code(self.router)
        self._forget()
        self.session_code, self.status = code, "loading"
        rt = get_runtime()
        try:
            await rt.service.require_session(code)
        except SessionNotFound:
            self.status = "missing"
            return
        url_key = self.router.url.query_parameters.get("key") or ""
        url_key = url_key if isinstance(url_key, str) and len(url_key) <= MAX_KEY_CHARS else ""
        identity = self._identity_for(code)
        for key in (url_key, None, self._facilitator_key_for(code) or ""):
            if key is None:  # a participant of this session, between an explicit and a remembered key
                if identity is not None:
                    try:
                        self._pid = await rt.service.authenticate(code, identity)
                        self.role = "participant"
                        break
                    except ServiceError:
                        pass
                continue
            if key:
                try:
                    await rt.service.check_facilitator(code, key)
                except ServiceError:
                    continue
                self._key, self._pid, self.role = key, FACILITATOR_ID, "facilitator"
                self._remember_facilitator_key(code, key)
                break
        if not self.role:
            await live.detach(self.router.session.client_token)
            self.status = "join"
            return
        self._code = code
        self.status = "ready"
        # `everything`: the team board is one shared view, so every team move is this tab's own change.
        await live.attach(
            self.router.session.client_token,
            code,
            type(self),
            None if self._key else self._pid,
            everything=True,
        )
        await self._sync()

    async def _sync(self, view: SessionState | None = None) -> None:
        """Render the projection (or this tab's optimistic view of it), assigning only what changed."""
        if not self._code:
            return
        rt = get_runtime()
        confirmed = await rt.queries.state(self._code)
        view = view or confirmed
        candidates, values = team_cards(view)
        self._set("title", confirmed.title)
        self._set("version", confirmed.version)
        self._set("board_open", view.team.open)
        self._set("locked", view.team.locked)
        self._set("ended", confirmed.ended)
        self._set("candidates", candidates)
        self._set("values", values)
        self._set("activity", last_move(view))
        self._set("my_name", team.mover_name(confirmed, self._pid))

    def _set(self, name: str, value: Any) -> None:
        if getattr(self, name) != value:
            setattr(self, name, value)

    def _notify(self, message: str, kind: str = "conflict") -> None:
        self.notice, self.notice_kind = message, kind

    @rx.event
    def dismiss_notice(self) -> None:
        self.notice = ""

    # --- moves: commands the browser resends until acknowledged, applied once per id (ui/resend.py) ------
    def _command_sender(self) -> tuple[str, str] | None:
        return (self._code, self._pid) if self._code and self._pid else None

    def _command_arity(self) -> dict[str, int]:
        return TEAM_COMMANDS

    async def _do_menu(
        self, command_id: str, card_id: Any, action: Any, from_index: Any, version: Any
    ) -> str | Then:
        """A card's menu: `action` one of MENU_ACTIONS, on the card as this tab showed it (its index in
        its pile, and the version of the view it was shown in)."""
        card_id = text_arg(card_id, "card_id", MAX_CARD_CHARS)
        if not isinstance(action, str) or action not in MENU_ACTIONS:
            raise BadArgument("not a team board move")
        from_index = int_arg(from_index, "from_index", 0, team.TEAM_CAP)
        version = int_arg(version, "version", 0, MAX_VERSION)
        to_pile, position = {
            "move-to-team-values": (TeamPile.TEAM_VALUES, team.TEAM_CAP),  # the end (clamped)
            "move-to-candidates": (TeamPile.CANDIDATES, 0),
            "move-up": (TeamPile.TEAM_VALUES, max(0, from_index - 1)),
            "move-down": (TeamPile.TEAM_VALUES, from_index + 1),
        }[action]
        from_pile = MENU_ACTIONS[action]
        if from_pile == TeamPile.CANDIDATES:
            from_index = 0
        return await self._move(command_id, card_id, from_pile, from_index, to_pile, position, version)

    async def _do_drop(self, command_id: str, payload: Any) -> str | Then:
        """From the drag-and-drop wrapper: {cardId, fromPile, fromIndex, toPile, toIndex, version}."""
        if not isinstance(payload, dict):
            raise BadArgument("payload must be an object")
        card_id = text_arg(payload.get("cardId"), "cardId", MAX_CARD_CHARS)
        from_pile, to_pile = payload.get("fromPile"), payload.get("toPile")
        piles = (from_pile, to_pile)
        if not all(isinstance(p, str) for p in piles) or not set(piles) <= _PILES:
            raise BadArgument("not a team board pile")
        from_index = _int(payload.get("fromIndex"), 0)
        to_index = _int(payload.get("toIndex"), -1)
        version = int_arg(payload.get("version"), "version", 0, MAX_VERSION)
        if not (0 <= from_index <= team.TEAM_CAP and -1 <= to_index <= team.TEAM_CAP):
            raise BadArgument("not a team board position")
        if to_pile == TeamPile.CANDIDATES:
            position = 0
        elif to_index >= 0:
            position = to_index
        else:  # dropped on the pile itself: its end
            position = len(self.values) - (1 if from_pile == TeamPile.TEAM_VALUES else 0)
        if from_pile == TeamPile.CANDIDATES:
            from_index = 0
        return await self._move(
            command_id, card_id, TeamPile(from_pile), from_index, TeamPile(to_pile), max(0, position), version
        )

    async def _move(
        self,
        command_id: str,
        card_id: str,
        from_pile: TeamPile,
        from_index: int,
        to_pile: TeamPile,
        position: int,
        version: int,
    ) -> str | Then:
        """The move under the command's id: refused at once (the reason, also the notice), or shown in this
        tab first and then appended (`Then`)."""
        rt = get_runtime()
        code = self._code
        confirmed = await rt.queries.state(code)
        seen = min(version, confirmed.version)
        try:
            event: Event = new_event(
                TeamCardMovedEvent,
                id=command_id,
                session_code=code,
                participant_id=self._pid,
                version=seen,
                card_id=card_id,
                from_pile=from_pile,
                to_pile=to_pile,
                position=max(0, position),
                from_position=max(0, from_index),
                participant_name=team.mover_name(confirmed, self._pid)[:80],
            )
        except InvalidEvent:
            self._notify("That is not a move the team board offers", "refused")
            return self.notice
        try:
            rules.check(confirmed, event)
        except DomainError as exc:  # lost already (the winner is sequenced) or never allowed
            self._notify(f"{exc}{_UNDONE}")
            await self._sync()
            return self.notice
        self.notice = ""
        await self._sync(OptimisticState(confirmed).apply_optimistically(event))
        return Then(partial(self._submit_move, event))

    async def _submit_move(self, event: Event) -> str:
        rt = get_runtime()
        code = self._code
        try:
            if self._key:
                await rt.service.submit_as_facilitator(code, self._key, event)
            else:
                identity = self._identity_for(code)
                if identity is None:
                    raise Forbidden("Join the session first")
                await rt.service.submit(code, identity, event)
        except Rejected as exc:
            self._notify(f"{exc}{_UNDONE}")
        except Forbidden as exc:
            self._notify(str(exc), "refused")
        await self._sync()
        return self.notice
