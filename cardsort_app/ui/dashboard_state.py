"""Per-tab state of the facilitator dashboard `/s/{code}/facilitate` (needs the facilitator key)."""

from __future__ import annotations

import os
from collections import Counter, OrderedDict
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

import reflex as rx

from cardsort_app.api.views import team_view
from cardsort_app.domain import team as team_rules
from cardsort_app.domain.events import FACILITATOR_ID, Event, EventType, RevealType
from cardsort_app.domain.results import Selection
from cardsort_app.domain.state import PILES, ParticipantState, SessionState
from cardsort_app.service.errors import Forbidden, ServiceError, SessionNotFound
from cardsort_app.service.runtime import get_runtime
from cardsort_app.ui.board_state import _card, _deck, participant_rows, reveal_rows
from cardsort_app.ui.dashboard_workshop import WorkshopControls
from cardsort_app.ui.guard import page_code
from cardsort_app.ui.identity import IdentityState
from cardsort_app.ui.live import RECENT_EVENTS, Audience, live
from cardsort_app.ui.live_feed import FACILITATOR, Window
from cardsort_app.ui.resend import ResentCommands
from cardsort_app.ui.workshop_view import selection_row

#: How many of the newest events the live log shows: those this process keeps per session (ui/live.py).
LOG_SIZE = RECENT_EVENTS
MAX_KEY_CHARS = 200


def _who(state: SessionState, event: Event) -> str:
    person = state.participant(event.participant_id)
    return person.name if person else event.participant_id


def _describe(state: SessionState, event: Event) -> str:
    p = event.payload
    match event.type:
        case EventType.CARD_MOVED:
            return f"{p.card_id}: {p.from_pile} → {p.to_pile}"
        case EventType.STEP_TRANSITIONED:
            return f"step {p.from_step} → {p.to_step}"
        case EventType.SELECTION_REVEALED:
            return f"revealed {p.reveal_type} ({len(p.cards)} cards)"
        case EventType.PARTICIPANT_JOINED:
            return f"joined as {p.participant.name}"
        case EventType.SESSION_CREATED:
            return f"deck {p.deck}, {len(p.card_ids)} cards"
        case EventType.STEP_OPENED:
            return f"step {p.step} opened"
        case EventType.TIMER_STARTED | EventType.TIMER_EXTENDED:
            return f"{p.seconds // 60}:{p.seconds % 60:02d}, ends {_clock(p.ends_at)}"
        case EventType.SESSION_ENDED:
            return f"ended ({p.reason})"
        case EventType.TEAM_CARD_MOVED:
            return f"{p.card_id}: {p.from_pile} → {p.to_pile} #{p.position + 1}"
        case EventType.TEAM_BOARD_OPENED:
            return "team board opened"
        case EventType.TEAM_BOARD_LOCKED:
            return "team board locked"
        case EventType.TIMER_STOPPED:
            return "timer stopped"
        case EventType.PARTICIPANT_LEFT:
            return "left the session"
        case EventType.PARTICIPANT_ERASED:
            return "name erased"
        case _:  # every type is described above (tests/app/test_dashboard_log.py)
            return ""


def _clock(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%H:%M:%S")


def log_row(state: SessionState, event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq or 0,
        "type": str(event.type),
        "who": _who(state, event),
        "when": datetime.fromtimestamp(event.timestamp / 1000, UTC).strftime("%H:%M:%S"),
        "detail": _describe(state, event),
    }


def progress_rows(state: SessionState, online: set[str]) -> list[dict[str, Any]]:
    revealed = {(r.participant_id, str(r.reveal_type)) for r in state.reveals}
    rows = [dict(row) for row in participant_rows(state, online)]  # extended below: copy the shared rows
    for row in rows:
        person = state.participants[row["id"]]
        row["counts"] = {p: len(person.pile(p)) for p in PILES}
        row["sorted"] = len(state.card_ids) - len(person.pile("unsorted"))
        row["revealed_top8"] = (row["id"], "top8") in revealed
        row["revealed_top3"] = (row["id"], "top3") in revealed
        row["name"] = person.name  # the facilitator sees real names, also in an anonymous session
    return rows


#: The facilitator feed's rows of the newest sessions, per participant, with what each was built from:
#: the reducer keeps an unchanged participant's object, so a change rebuilds only its own participant's
#: rows, not 200 (the feed still compares them all, cheaply). Bounded: the oldest session goes first.
_MEMO_SESSIONS = 64
_MEMO: OrderedDict[tuple[str, str], dict[Any, tuple[tuple[Any, ...], dict[str, Any]]]] = OrderedDict()


def _memo(code: str, kind: str) -> dict[Any, tuple[tuple[Any, ...], dict[str, Any]]]:
    memo = _MEMO.get((code, kind))
    if memo is None:
        memo = _MEMO[(code, kind)] = {}
        while len(_MEMO) > _MEMO_SESSIONS:
            _MEMO.popitem(last=False)
    else:
        _MEMO.move_to_end((code, kind))
    return memo


def _same(key: tuple[Any, ...], built: tuple[Any, ...]) -> bool:
    return key[0] is built[0] and key[1:] == built[1:]


def _progress_row(
    person: ParticipantState, online: bool, top8: bool, top3: bool, cards: int
) -> dict[str, Any]:
    """One row of `progress_rows`, built on its own (the facilitator feed's memo)."""
    return {
        "id": person.id,
        "name": person.name,
        "step": person.step,
        "online": "true" if online else "false",
        "counts": {p: len(person.pile(p)) for p in PILES},
        "sorted": cards - len(person.pile("unsorted")),
        "revealed_top8": top8,
        "revealed_top3": top3,
    }


def _some(state: SessionState, only: Collection[str] | None) -> Iterable[ParticipantState]:
    """The active participants, or just those of `only` (their rows alone: see live_feed.Rows)."""
    if only is None:
        return state.active_participants
    shown = (state.participants.get(pid) for pid in only)
    return [p for p in shown if p is not None and p.active]


def _keep(memo: dict[Any, Any], kept: dict[Any, Any], only: Collection[str] | None) -> None:
    """The memo holds exactly the rows just built: every row, or the others' plus those of `only`."""
    if only is None:
        memo.clear()
    else:
        for pid in only:
            memo.pop(pid, None)
    memo.update(kept)


def _progress_feed_rows(
    state: SessionState, online: set[str], only: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """`progress_rows`, rebuilding only the participants whose data changed since the last call."""
    memo = _memo(state.code, "progress")
    revealed = {(r.participant_id, str(r.reveal_type)) for r in state.reveals}
    rows, kept = [], {}
    for p in _some(state, only):
        key = (p, p.id in online, (p.id, "top8") in revealed, (p.id, "top3") in revealed, len(state.card_ids))
        hit = memo.get(p.id)
        if hit is None or not _same(key, hit[0]):
            hit = (key, _progress_row(*key))
        kept[p.id] = hit
        rows.append(hit[1])
    _keep(memo, kept, only)
    return rows


def aggregate(state: SessionState) -> list[dict[str, Any]]:
    """How often each card is in the group's revealed selections (top 3 weighs in on its own bar)."""
    deck = _deck(state)
    top8: Counter[str] = Counter()
    top3: Counter[str] = Counter()
    for r in state.reveals:
        (top3 if r.reveal_type == RevealType.TOP3 else top8).update(r.cards)
    cards = sorted(set(top8) | set(top3), key=lambda c: (-top8[c] - top3[c], c))
    return [{"name": _card(deck, c)["name"], "top8": top8[c], "top3": top3[c]} for c in cards[:12]]


def _real_reveals(state: SessionState) -> list[dict[str, Any]]:
    return reveal_rows(state, real_names=True)


def _selections(
    state: SessionState, _online: set[str], only: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """`selection_rows`, rebuilding only the participants whose data changed since the last call."""
    memo = _memo(state.code, "selections")
    deck = None
    rows, kept = [], {}
    for p in _some(state, only):
        hit = memo.get(p.id)
        if hit is None or hit[0][0] is not p:
            deck = deck or _deck(state)
            hit = ((p,), selection_row(deck, Selection(p.id, p.name, p.step, p.top3, p.top8)))
        kept[p.id] = hit
        rows.append(hit[1])
    _keep(memo, kept, only)
    return rows


def _log_feed_rows(state: SessionState, after: int) -> list[dict[str, Any]]:
    """The event log's rows after seq `after` (of its newest `LOG_SIZE`), oldest first, `n` = -seq (shown
    newest first), from the events this process applied (the dashboard's load read the older ones:
    `live.seed`). A row is built once per event, and again only when its participant's name changed (an
    erased name leaves the log too)."""
    memo = _memo(state.code, "log")
    oldest = max(0, state.version - LOG_SIZE)
    events = live.events_after(state.code, max(after, oldest)) or []
    rows = []
    for event in events:
        seq = event.seq or 0
        if seq > state.version:
            break
        person = state.participant(event.participant_id)
        name = person.name if person else None
        hit = memo.get(seq)
        if hit is None or hit[0] != (event.id, name):
            row = log_row(state, event)
            del row["seq"]  # the row's key is its seq: `seq` in a frame row is the stamp's (live_feed.py)
            hit = memo[seq] = ((event.id, name), {"id": seq, "n": -seq, **row})
        rows.append(hit[1])
    for seq in [s for s in memo if s <= oldest]:
        del memo[seq]
    return rows


# Everyone's progress, the reveals, the selections (real names) and the event log reach the dashboards as
# row frames to the facilitator room of the session (ui/live_feed.py): built once per change, only the
# changed rows sent, whatever the number of participants. Only dashboards that proved the key are in that
# room. A step change or a join therefore costs a dashboard no Reflex push at all (ui/live.py).
live.audiences[FACILITATOR] = Audience(
    _progress_feed_rows,
    _real_reveals,
    {"selections": _selections},
    windows={"log": Window(_log_feed_rows, LOG_SIZE)},
)


#: The dashboard's controls, as the browser's outbox sends them (name -> number of arguments).
DASHBOARD_COMMANDS = {
    "open_step": 1,
    "start_timer": 1,
    "add_minute": 0,
    "stop_timer": 0,
    "end_session": 0,
    "reveal_all": 0,
    "team_open": 0,
    "team_lock": 0,
}


class DashboardState(WorkshopControls, ResentCommands, IdentityState):
    """Shows nothing until this tab proved the facilitator key: every handler checks `_verified_code`
    (set only by a successful `load`), and the data vars are filled only from that code."""

    session_code: str = ""
    title: str = ""
    status: str = "loading"  # loading | ready | forbidden (a wrong key and an unknown code alike)
    # Everyone's rows (progress, reveals, selections, the event log) as the facilitator feed's snapshot when
    # this tab (re)loaded; later changes arrive as row frames, merged in the browser (live_view.py).
    live: dict[str, Any] = {}
    chart: list[dict[str, Any]] = []
    version: int = 0  # as of the last push; the page shows the newer of it and the live log's head
    deck_size: int = 0
    message: str = ""
    worker: str = ""  # which backend worker process serves this tab (diagnostics, multi-worker tests)
    team: dict[str, Any] = {"open": False, "locked": False, "candidates": [], "values": []}
    team_names: list[str] = []
    _verified_code: str = ""
    _key: str = ""

    @rx.var
    def join_path(self) -> str:
        return f"/?code={self.session_code}"

    def _refuse_malformed(self, message: str) -> None:
        self.message = message

    def _forget(self) -> None:
        """No verified session in this tab: nothing of any session stays visible."""
        self._verified_code, self._key = "", ""
        self.session_code, self.title, self.version, self.deck_size, self.message = "", "", 0, 0, ""
        self.live, self.chart = {}, []
        self._forget_workshop()
        self.team, self.team_names = {"open": False, "locked": False, "candidates": [], "values": []}, []

    @rx.event
    async def load(self):
        code = page_code(self.router)
        from_url = self.router.url.query_parameters.get("key")
        key = from_url or self._facilitator_key_for(code) or ""
        if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
            key = ""
        try:
            code = await get_runtime().service.check_facilitator(code, key)
        except (SessionNotFound, Forbidden):  # the same answer: a code cannot be probed with this page
            self._forget()
            await live.detach(self.router.session.client_token)
            self.status = "forbidden"
            return
        self._forget()
        self._verified_code, self._key = code, key
        self.session_code = code
        self._remember_facilitator_key(code, key)
        if from_url:
            # Trade the key in the address for this browser's stored one, and take it out of the address
            # bar and the history entry at once (history, screenshots, proxies); the page loads again.
            page = "results" if self.router.url.path.endswith("/results") else "facilitate"  # as asked
            return rx.redirect(f"/s/{code}/{page}", replace=True)
        self.status = "ready"
        self.read_only = await get_runtime().service.is_read_only(code)
        self.worker = str(os.getpid())
        session = self.router.session
        await live.attach(
            session.client_token, code, type(self), None, sid=session.session_id, everything=True
        )
        await live.seed(code)  # the log's older rows; after attaching, so every later event is added
        self._show_live(live.snapshot(code, FACILITATOR))
        await self._sync()
        return None

    def _show_live(self, snapshot: dict[str, Any]) -> None:
        """Every row once per (re)load; the browser keeps the newest of it and the frames."""
        if self._verified_code:
            self.live = snapshot

    def _put(self, name: str, value: Any) -> None:
        """Assign only what changed, so the push carries only that."""
        if getattr(self, name) != value:
            setattr(self, name, value)

    async def _sync(self) -> None:
        if not self._verified_code:
            return
        rt = get_runtime()
        state = await rt.queries.state(self._verified_code)
        self._put("title", state.title)
        self._put("version", state.version)
        self._put("deck_size", len(state.card_ids))
        self._put("chart", aggregate(state))
        await self._sync_workshop(state)
        self._put("team", team_view(state))
        self._put("team_names", [team_rules.card_label(state, c) for c in state.team.values])

    # --- commands (ui/resend.py); the workshop's are in dashboard_workshop.py ---------------------------
    def _command_sender(self) -> tuple[str, str] | None:
        return (self._verified_code, FACILITATOR_ID) if self._verified_code and self._key else None

    def _command_arity(self) -> dict[str, int]:
        return DASHBOARD_COMMANDS

    async def _do_reveal_all(self, command_id: str) -> str:
        try:
            made = await get_runtime().service.reveal_all(self._verified_code, self._key, event_id=command_id)
        except ServiceError as exc:
            self.message = str(exc)
            return self.message
        self.message = f"Revealed {len(made)} selection(s)." if made else "Nothing new to reveal yet."
        return ""

    async def _do_team_open(self, command_id: str) -> str:
        return await self._team_command(team_rules.open_board, "The team board is open.", command_id)

    async def _do_team_lock(self, command_id: str) -> str:
        done = "The team board is locked: these are the values."
        return await self._team_command(team_rules.lock_board, done, command_id)

    async def _team_command(self, build, done: str, command_id: str) -> str:
        command = get_runtime().service.facilitator_command(
            self._verified_code, self._key, build, event_id=command_id
        )
        return await self._run(command, done)


#: Nothing a control does could land (the session ended, or it is a read-only import): they are disabled.
FROZEN = DashboardState.ended | DashboardState.read_only
