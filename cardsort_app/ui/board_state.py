"""Per-tab state of the participant board `/s/{code}`.

The tab's own moves and step changes go through the browser's change queue (cardsort_offline.jsx): the
browser shows them at once over the confirmed state this state pushes (`piles`, `step`), keeps them in
localStorage until acknowledged, and sends them to `send_changes` with ids it chose, so a resend after a
lost frame or a reconnect can never double one (the log dedupes by event id). Each change is answered in
`acks`: confirmed, or rejected with the reason, and the browser rolls a rejected one back with a notice.
Everyone else's progress comes only from the confirmed projection (the log), so a participant's step can
never flicker between two sources.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

import reflex as rx

from cardsort_app.domain import facilitation, rules
from cardsort_app.domain.custom_decks import session_deck
from cardsort_app.domain.decks import Deck
from cardsort_app.domain.events import (
    CardMovedEvent,
    Event,
    InvalidEvent,
    RevealType,
    SelectionRevealedEvent,
    StepTransitionedEvent,
    new_event,
)
from cardsort_app.domain.facilitation import display_names
from cardsort_app.domain.state import PILES, ParticipantState, SessionState
from cardsort_app.domain.team import card_label
from cardsort_app.service.errors import Rejected, ServiceError
from cardsort_app.service.limits import LimitExceeded
from cardsort_app.service.runtime import Runtime, get_runtime
from cardsort_app.service.sessions import Identity
from cardsort_app.ui.focus import FocusMode
from cardsort_app.ui.guard import MAX_TYPED_CHARS, page_code, text_arg
from cardsort_app.ui.identity import IdentityState
from cardsort_app.ui.join import read_join_request
from cardsort_app.ui.live import live
from cardsort_app.ui.resend import ack, read_batch, well_formed_id
from cardsort_app.ui.workshop_view import is_released, is_waiting, session_fields

#: One answer for every command from a browser that cannot prove its identity (none, or a forged one).
NOT_A_PARTICIPANT = "This browser is not a participant of this session; join first"


def _card(deck: Deck | None, card_id: str) -> dict[str, str]:
    if deck is not None:
        try:
            card = deck.card(card_id)
            return {"id": card.id, "name": card.name, "meaning": card.meaning}
        except KeyError:
            pass
    return {"id": card_id, "name": card_id, "meaning": ""}


def _deck(state: SessionState) -> Deck | None:
    return session_deck(state)  # a custom deck's cards come from the session's own log


#: The newest rows per session: every tab of a session shows the same list, so it is built once per
#: change, not once per tab. Keyed by the projection's version (immutable per session) and who is online.
_ROWS: dict[str, tuple[tuple[int, frozenset[str]], list[dict[str, Any]]]] = {}
_REVEALS: dict[str, tuple[int, list[dict[str, Any]]]] = {}
_REAL_REVEALS: dict[str, tuple[int, list[dict[str, Any]]]] = {}


def participant_rows(
    state: SessionState, online: set[str], only: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """The participants panel, shared by every tab of the session (treat it as read-only); with `only`,
    just those participants' rows (the live feed's rebuild after a change of theirs).

    Participants see each other under ``display_names`` ("Participant N" in an anonymous session); only
    the facilitator's dashboard shows real names.
    """
    if only is not None:
        shown = [state.participants[pid] for pid in only if pid in state.participants]
        return [_participant_row(state, p, online) for p in shown if p.active]
    key = (state.version, frozenset(online))
    cached = _ROWS.get(state.code)
    if cached is not None and cached[0] == key:
        return cached[1]
    names = display_names(state)
    rows = [
        {"id": p.id, "name": names[p.id], "step": p.step, "online": "true" if p.id in online else "false"}
        for p in state.active_participants
    ]
    _ROWS[state.code] = (key, rows)
    return rows


def _participant_row(state: SessionState, person: ParticipantState, online: set[str]) -> dict[str, Any]:
    """One row of `participant_rows` (its name as `display_names` gives it)."""
    name = person.name
    if state.anonymous:
        name = f"Participant {list(state.participants).index(person.id) + 1}"
    return {
        "id": person.id,
        "name": name,
        "step": person.step,
        "online": "true" if person.id in online else "false",
    }


def forget_rows(code: str) -> None:
    """Drop a session's cached rows once no tab of this process shows it (memory stays flat)."""
    _ROWS.pop(code, None)
    _REVEALS.pop(code, None)
    _REAL_REVEALS.pop(code, None)


def reveal_rows(state: SessionState, real_names: bool = False) -> list[dict[str, Any]]:
    """The reveals, shared by every tab of the session (treat it as read-only); under the names
    participants see each other by, or the real ones (``real_names``, the facilitator's dashboard)."""
    cache = _REAL_REVEALS if real_names else _REVEALS
    cached = cache.get(state.code)
    if cached is not None and cached[0] == state.version:
        return cached[1]
    deck = _deck(state)
    names = {} if real_names else display_names(state)
    rows = [
        {
            "participant_id": r.participant_id,
            "participant_name": names.get(r.participant_id, r.participant_name),
            "reveal_type": str(r.reveal_type),
            "label": "Top 8" if r.reveal_type == RevealType.TOP8 else "Top 3",
            "cards": [_card(deck, c) for c in r.cards],
        }
        for r in state.reveals
    ]
    cache[state.code] = (state.version, rows)
    return rows


#: At most this many queued changes per `send_changes` call (the queue sends its oldest first).
MAX_CHANGES = 50
#: A move's position inside its pile is clamped to the pile's end; beyond this it is not even read.
MAX_INDEX = 1000
_UNREADABLE = "That change could not be read; it was dropped"
#: Changes that carry nothing but their id (what they mean is decided when they are stored).
_SIMPLE_KINDS = ("reveal", "leave", "erase")


def _read_change(change: Any) -> dict[str, Any] | None:
    """One queued change as the browser sends it, checked field by field; None when malformed."""
    if not isinstance(change, dict) or not well_formed_id(change.get("id")):
        return None
    if change.get("kind") == "move":
        card, src, dst = change.get("cardId"), change.get("fromPile"), change.get("toPile")
        at = change.get("toIndex")  # optional: where in the pile (focus mode's undo puts a card first)
        ok = isinstance(card, str) and 0 < len(card) <= 64 and src in PILES and dst in PILES
        ok = ok and (
            at is None or (isinstance(at, int) and not isinstance(at, bool) and 0 <= at <= MAX_INDEX)
        )
        return (
            {"id": change["id"], "kind": "move", "card": card, "src": src, "dst": dst, "at": at}
            if ok
            else None
        )
    if change.get("kind") in _SIMPLE_KINDS:  # e.g. what is revealed is the selection when it is stored
        return {"id": change["id"], "kind": change["kind"]}
    if change.get("kind") == "step":
        steps = change.get("fromStep"), change.get("toStep")
        ok = all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= rules.FINAL_STEP for n in steps)
        return {"id": change["id"], "kind": "step", "from": steps[0], "to": steps[1]} if ok else None
    return None


def _event_for(state: SessionState, pid: str, change: dict[str, Any]) -> Event:
    """The event for a queued change, with the browser's id: exactly what the participant saw and did."""
    person = state.participant(pid)
    common = {"id": change["id"], "session_code": state.code, "participant_id": pid, "version": state.version}
    if change["kind"] == "move":
        end = len(person.pile(change["dst"])) if person else 0
        position = end if change["at"] is None else min(change["at"], end)
        return new_event(
            CardMovedEvent,
            **common,
            card_id=change["card"],
            from_pile=change["src"],
            to_pile=change["dst"],
            position=position,
        )
    if change["kind"] == "leave":
        return rules.leave(state, pid).model_copy(update={"id": change["id"]})
    if change["kind"] == "erase":
        return facilitation.erase(state, pid).model_copy(update={"id": change["id"]})
    if change["kind"] == "reveal":
        reveal_type = RevealType.TOP3 if person and person.step >= rules.FINAL_STEP else RevealType.TOP8
        return new_event(
            SelectionRevealedEvent,
            **common,
            reveal_type=reveal_type,
            cards=person.selection(reveal_type) if person else (),
        )
    return new_event(
        StepTransitionedEvent,
        **common,
        from_step=change["from"],
        to_step=change["to"],
        participant_name=person.name if person else "",
    )


class BoardState(FocusMode, IdentityState):
    session_code: str = ""
    title: str = ""
    status: str = "loading"  # loading | join | ready | missing | left
    me: str = ""
    my_name: str = ""
    step: int = 1
    piles: dict[str, list[dict[str, str]]] = {p: [] for p in PILES}
    # The participants panel and the reveals, as the session's rows when this tab (re)loaded. Later changes
    # reach the tab as live frames to its session's room, merged in the browser (live_view.py).
    live: dict[str, Any] = {}
    notice: str = ""
    notice_kind: str = ""  # conflict | refused
    # The answer to the browser's last `send_changes`: {"batch": id, "results": [{"id", "ok", "reason"}],
    # "retryAfter": seconds to wait before sending the changes left unanswered (rate limit), else 0}.
    acks: dict[str, Any] = {"batch": "", "results": [], "retryAfter": 0}
    join_name: str = ""
    join_error: str = ""
    deck_size: int = 0
    # The facilitator's workshop (ui/workshop_view.py): pacing, the countdown's end (epoch ms, 0 = none),
    # the end of the session, and whether this participant waits for the facilitator to open a step.
    pacing: str = "self"
    steps_open: int = 3
    timer_ends_at: int = 0
    ended: bool = False
    anonymous: bool = False
    waiting: bool = False
    released: bool = False  # facilitator-paced: this step done, the next one just opened (is_released)
    team_open: bool = False  # the team board is open: the board links to it
    team_values: list[str] = []  # the locked team board's values, in order (the workshop's outcome)
    selection_revealed: bool = False  # the group sees this step's selection as it is: revealing is a no-op
    worker: str = ""  # which backend worker process serves this tab (diagnostics, multi-worker tests)

    @rx.var
    def reveal_label(self) -> str:
        which = "top 3" if self.step >= rules.FINAL_STEP else "top 8"
        return f"My {which} is revealed" if self.selection_revealed else f"Reveal my {which}"

    # --- loading --------------------------------------------------------------------------------------
    @rx.event
    async def load(self):
        self.session_code = page_code(self.router)
        self.status = "loading"
        self.worker = str(os.getpid())
        self.me = ""  # set again only once this load proved the identity
        rt = get_runtime()
        try:
            code = await rt.service.require_session(self.session_code)
        except ServiceError:
            self.status = "missing"
            self.live, self.piles = {}, {p: [] for p in PILES}
            await live.detach(self.router.session.client_token)
            return
        identity = self._identity_for(code)
        if identity is not None:
            try:
                await rt.service.join(code, "", identity)  # resumes; re-activates after a leave
            except ServiceError:
                identity = None
        if identity is None:
            self.status = "join"
            await self._attach(None)
            await self._sync()
            return
        self.me = identity.participant_id
        self.status = "ready"
        await self._attach(self.me)
        await self._sync()

    async def _attach(self, participant_id: str | None) -> None:
        session = self.router.session
        await live.attach(
            session.client_token, self.session_code, type(self), participant_id, sid=session.session_id
        )
        self._show_live(live.snapshot(self.session_code))

    def _show_live(self, snapshot: dict[str, Any]) -> None:
        """The whole shared list, once per (re)load; the browser keeps the newest of it and the frames."""
        self.live = snapshot

    def _refuse_malformed(self, message: str) -> None:
        self._notify(message, "refused")

    @rx.event
    def set_join_name(self, value: str) -> None:
        self.join_name = text_arg(value, "The name", MAX_TYPED_CHARS)

    @rx.event
    async def join(self, _form: dict | None = None):
        """`_form`: the browser's join request (ui/join.py), with its join token for this session, so that
        a join sent again after a lost answer resumes the participant it made."""
        request = read_join_request(_form)
        if request.name is not None:
            self.join_name = request.name
        rt = get_runtime()
        try:
            identity = await rt.service.join(
                self.session_code,
                self.join_name,
                self._identity_for(self.session_code),
                client=self.router.session.client_ip or None,
                token=request.token,
            )
        except ServiceError as exc:
            self.join_error = str(exc)
            return
        self._remember_identity(self.session_code, identity)
        self.join_error = ""
        self.me = identity.participant_id
        self.status = "ready"
        await self._attach(self.me)
        await self._sync()

    # --- rendering ------------------------------------------------------------------------------------
    async def _sync(self, view: SessionState | None = None) -> None:
        """Render the projection (or an optimistic view of it) into this tab's vars, assigning only what
        changed so the delta stays small."""
        rt = get_runtime()
        confirmed = await rt.queries.state(self.session_code)
        if view is None:  # every var below is set from this version: a push of it would change nothing
            live.rendered(self.router.session.client_token, confirmed.version)
        view = view or confirmed
        self._set("title", confirmed.title)
        self._set("deck_size", len(confirmed.card_ids))
        for name, value in session_fields(confirmed).items():
            self._set(name, value)
        self._set("team_open", confirmed.team.open)
        locked = confirmed.team.values if confirmed.team.locked else ()
        self._set("team_values", [card_label(confirmed, card) for card in locked])
        person = view.participant(self.me) if self.me else None
        if person is None:
            return
        self._set("waiting", is_waiting(confirmed, person))
        self._set("released", is_released(confirmed, person))
        reveal_type = RevealType.TOP3 if person.step >= rules.FINAL_STEP else RevealType.TOP8
        shown = rules.reveal_shows(view, self.me, reveal_type, person.selection(reveal_type))
        self._set("selection_revealed", shown)
        if not person.active and self.status == "ready":
            self.status = "left"
        deck = _deck(view)
        self._set("my_name", person.name)
        self._set("step", person.step)
        self._set("piles", {p: [_card(deck, c) for c in person.pile(p)] for p in PILES})

    def _set(self, name: str, value: Any) -> None:
        if getattr(self, name) != value:
            setattr(self, name, value)

    # --- commands -------------------------------------------------------------------------------------
    def _notify(self, message: str, kind: str) -> None:
        self.notice, self.notice_kind = message, kind

    @rx.event
    def dismiss_notice(self) -> None:
        self.notice = ""

    @rx.event
    async def send_changes(self, batch: dict):
        """From the browser's change queue: {"batch": id, "changes": [{"id", "kind": "move", "cardId",
        "fromPile", "toPile"} | {"id", "kind": "step", "fromStep", "toStep"} | {"id", "kind": "reveal"}]},
        oldest first.

        The tab's own identity is authenticated before anything else; every change is then appended in
        order under the id the browser chose (a change that already landed is confirmed again, never
        doubled) and acknowledged: confirmed, or rejected with the reason.
        """
        read = read_batch(batch, "changes", MAX_CHANGES)
        if read is None:
            self._notify(_UNREADABLE, "refused")
            return
        if self.status != "ready":
            return  # not loaded (yet): the queue keeps its changes and sends them again once ready
        batch_id, changes = read
        rt = get_runtime()
        identity = self._identity_for(self.session_code)
        try:
            pid = await rt.service.authenticate(self.session_code, identity)
        except ServiceError:
            pid = None
        results = []
        retry_after = 0  # seconds: the participant's command rate was reached, the rest waits in the queue
        for raw in changes:
            change = _read_change(raw)
            if change is None:
                change_id = raw.get("id") if isinstance(raw, dict) else None
                if isinstance(change_id, str) and len(change_id) <= 64:
                    results.append(ack(change_id, _UNREADABLE))
            elif pid is None or identity is None:
                results.append(ack(change["id"], NOT_A_PARTICIPANT))
            else:
                try:
                    rt.service.check_command_rate(self.session_code, pid)
                except LimitExceeded as exc:
                    self._notify(f"{exc}: your changes are kept and sent shortly.", "refused")
                    retry_after = exc.retry_after
                    break
                results.append(await self._append_change(rt, identity, pid, change))
        if results and not retry_after and self.notice_kind == "refused":
            self.notice = ""  # a change went through: an earlier refusal (e.g. "too fast") is stale
        self.acks = {"batch": batch_id, "results": results, "retryAfter": retry_after}
        await self._sync()
        if self.status == "left":  # a leave is stored: the tab that asked for it goes to the landing page
            await live.detach(self.router.session.client_token)

    async def _append_change(self, rt: Runtime, identity: Identity, pid: str, change: dict[str, Any]):
        confirmed = await rt.queries.state(self.session_code)
        try:
            event = _event_for(confirmed, pid, change)
            await rt.service.submit(self.session_code, identity, event)
        except InvalidEvent:
            return ack(change["id"], _UNREADABLE)
        except Rejected as exc:
            return ack(change["id"], f"{exc} — your change was undone.")
        except ServiceError:
            return ack(change["id"], NOT_A_PARTICIPANT)
        return ack(change["id"])
