"""Every public websocket event handler of the app, called the way a hostile client can call it.

A raw Reflex-protocol client (tests/support/reflex_ws.py) talks to the real app and calls every handler of
every State -- ours and the framework's, enumerated from the app itself -- with no key, a wrong key, a
forged identity (another participant's id with a wrong secret), from every page, with malformed arguments.
After each call it checks that the tab was told nothing it may not see (the facilitator's dashboard data,
the victim's piles, the event log, any secret) and that nothing raised (Reflex's "An error occurred" toast,
a traceback in the app's log). A handler added to the app without a case here fails `test_every_handler
_has_a_case`, which says what to add.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import reflex as rx

import cardsort_app.cardsort_app  # noqa: F401  (registers every page state)
from cardsort_app.domain.state import PILES
from cardsort_app.service.sessions import MALFORMED_JOIN_TOKEN
from cardsort_app.ui.board_state import NOT_A_PARTICIPANT, BoardState
from cardsort_app.ui.dashboard_state import DashboardState
from cardsort_app.ui.firewall import handlers
from cardsort_app.ui.guard import MALFORMED
from cardsort_app.ui.identity import IdentityState
from cardsort_app.ui.landing import LandingState
from cardsort_app.ui.replay_state import ReplayState
from cardsort_app.ui.team_state import TeamState
from tests.security.hostile import HOSTILE_PAYLOADS, HOSTILE_VALUES, cases
from tests.support.app_server import AppServer
from tests.support.ws_probe import WsTab, var

pytestmark = pytest.mark.security

ERROR_TOAST = "An error occurred"
#: The hostile tabs connect from their own loopback address: their thousands of calls count against that
#: address's limits (join attempts, sessions), not against the other tests' 127.0.0.1.
HOSTILE_ADDRESS = "127.0.0.9"
#: A well-formed join token (what ui/cardsort_join.jsx makes): 128 bits as 32 hex digits.
JOIN_TOKEN = uuid.uuid4().hex
SENTINEL = (LandingState.get_full_name() + ".set_title", "value")
IDENTITIES = IdentityState.get_full_name() + "." + var("identities")
FACILITATOR_KEYS = IdentityState.get_full_name() + "." + var("facilitator_keys")
#: Vars a hostile `setvar` may try, beyond the ones with setters.
SENSITIVE_VARS = [
    "_verified_code",
    "_key",
    "status",
    "session_code",
    "me",
    "piles",
    "rows",
    "live",
    "log",
    "identities",
    "facilitator_keys",
    "is_hydrated",
    "join_name",
    "title",
]


@dataclass
class Victim:
    code: str
    key: str
    pid: str
    secret: str
    placed: dict[str, str]  # card id -> the pile the victim put it in (very-important / important)
    cards: list[str]
    version: int = 0


@dataclass
class Caller:
    """One hostile tab: where it is, what storage it sends, what it should be refused."""

    name: str
    path: str
    query: dict[str, str]
    storage: dict[str, str] = field(default_factory=dict)


def _move(card: str, from_pile: str, to_pile: str) -> dict[str, str]:
    """One queued card move, as the board's change queue (cardsort_offline.jsx) sends it."""
    return {"id": str(uuid.uuid4()), "kind": "move", "cardId": card, "fromPile": from_pile, "toPile": to_pile}


def _command(name: str, *args: Any) -> dict[str, Any]:
    """One click's command, as a page's outbox (cardsort_outbox.jsx) sends it."""
    return {"id": str(uuid.uuid4()), "name": name, "args": list(args)}


# --- the valid call of each handler; hostile variants are derived from it (tests/security/hostile.py) ----
def _valid_args(victim: Victim) -> dict[tuple[str, str], dict[str, Any]]:
    card = victim.cards[0]
    return {
        ("State", "setvar"): {"var_name": "is_hydrated", "value": True},
        ("State", "hydrate"): {},
        ("State", "set_is_hydrated"): {"value": True},
        ("State", "hydrate_and_load"): {"vars": {}},
        ("OnLoadInternalState", "setvar"): {"var_name": "is_hydrated", "value": True},
        ("OnLoadInternalState", "on_load_internal"): {},
        ("OnLoadInternalState", "set_is_hydrated"): {"value": True},
        ("FrontendEventExceptionState", "setvar"): {"var_name": "x", "value": 1},
        ("FrontendEventExceptionState", "handle_frontend_exception"): {"info": "x", "component_stack": "y"},
        ("SharedStateBaseInternal", "setvar"): {"var_name": "x", "value": 1},
        ("UpdateVarsInternalState", "setvar"): {"var_name": "x", "value": 1},
        ("UpdateVarsInternalState", "update_vars_internal"): {"vars": {}},
        ("IdentityState", "setvar"): {"var_name": "identities", "value": "{}"},
        ("BoardState", "setvar"): {"var_name": "join_name", "value": "Mallory"},
        ("BoardState", "load"): {},
        ("BoardState", "set_join_name"): {"value": "Mallory"},
        ("BoardState", "join"): {"_form": {"name": "Mallory", "token": JOIN_TOKEN}},
        ("BoardState", "dismiss_notice"): {},
        ("BoardState", "send_changes"): {
            "batch": {
                "batch": "b-1",
                "changes": [
                    _move(card, victim.placed[card], "not-important"),
                    {"id": str(uuid.uuid4()), "kind": "step", "fromStep": 1, "toStep": 2},
                ],
            }
        },
        ("BoardState", "toggle_focus"): {},
        ("DashboardState", "setvar"): {"var_name": "session_code", "value": victim.code},
        ("DashboardState", "load"): {},
        ("DashboardState", "set_timer_minutes"): {"value": "5"},
        ("DashboardState", "send_commands"): {
            "batch": {
                "batch": "c-1",
                "commands": [
                    _command("reveal_all"),
                    _command("open_step", 2),
                    _command("start_timer", 5),
                    _command("start_timer", "5"),
                    _command("add_minute"),
                    _command("stop_timer"),
                    _command("team_open"),
                    _command("team_lock"),
                    _command("end_session"),
                ],
            }
        },
        ("TeamState", "setvar"): {"var_name": "status", "value": "ready"},
        ("TeamState", "load"): {},
        ("TeamState", "dismiss_notice"): {},
        ("TeamState", "send_commands"): {
            "batch": {
                "batch": "t-1",
                "commands": [
                    _command("menu", card, "move-to-team-values", 0, victim.version),
                    _command(
                        "drop",
                        {
                            "cardId": card,
                            "fromPile": "candidates",
                            "fromIndex": 0,
                            "toPile": "team-values",
                            "toIndex": -1,
                            "version": victim.version,
                        },
                    ),
                ],
            }
        },
        ("ReplayState", "setvar"): {"var_name": "seq", "value": 1},
        ("ReplayState", "load"): {},
        ("ReplayState", "scrub"): {"value": "1"},
        ("ReplayState", "set_speed"): {"value": "5"},
        ("ReplayState", "toggle_play"): {},
        ("ReplayState", "play"): {},
        ("LandingState", "setvar"): {"var_name": "join_code", "value": victim.code},
        ("LandingState", "set_title"): {"value": "Workshop"},
        ("LandingState", "set_deck"): {"value": "values-mini"},
        ("LandingState", "set_join_code"): {"value": victim.code},
        ("LandingState", "set_join_name"): {"value": "Mallory"},
        ("LandingState", "prefill"): {},
        ("LandingState", "create"): {},
        ("LandingState", "join"): {"form": {"code": victim.code, "name": "Mallory", "token": JOIN_TOKEN}},
        ("LandingState", "set_anonymous"): {"value": True},
        ("LandingState", "set_facilitator_paced"): {"value": True},
        ("LandingState", "upload_deck"): {"files": []},
        ("LandingState", "clear_deck"): {},
    }


def _app_handlers() -> dict[tuple[str, str], str]:
    """(state class name, handler name) -> wire name, for every handler registered in the app."""
    return {(cls.__name__, name): wire for wire, (cls, name, _sig) in handlers().items()}


def test_every_handler_has_a_case() -> None:
    dummy = Victim("CODE42", "k", "p_1", "s", {"c": "important"}, ["c"])
    known = set(_valid_args(dummy))
    missing = sorted(set(_app_handlers()) - known)
    assert not missing, (
        f"websocket event handlers without a hostile-input case: {missing}. Every public method of a "
        "State is an endpoint a browser can call: make it private (`_name`) if browsers must not call it, "
        "otherwise add its well-formed arguments to _valid_args in tests/security/test_ws_handlers.py."
    )
    assert not known - set(_app_handlers()), "cases for handlers the app no longer has: remove them"


# --- set-up: a session with a victim who sorted some cards ---------------------------------------
async def _victim(app: AppServer) -> Victim:
    async with httpx.AsyncClient(base_url=app.url, timeout=30) as api:
        r = await api.post("/api/sessions", json={"title": "Trust", "deck": "values-mini"})
        assert r.status_code == 201, r.text
        code, key = r.json()["code"], r.json()["facilitatorKey"]
        tab = WsTab(app.url, sentinel_event=SENTINEL, source=HOSTILE_ADDRESS)
        await tab.open(f"/s/{code}", {"code": code})
        await tab.wait_for(lambda: tab.get(BoardState, "status") == "join", what="the join form")
        await tab.call(BoardState.get_full_name() + ".set_join_name", {"value": "Victoria"})
        await tab.call(BoardState.get_full_name() + ".join", {"_form": {}})
        await tab.wait_for(lambda: tab.get(BoardState, "status") == "ready", what="joined")
        pid = tab.get(BoardState, "me")
        stored = json.loads(tab.vars[IdentityState.get_full_name()][var("identities")])
        secret = stored[code]["secret"]
        cards = [c["id"] for c in tab.get(BoardState, "piles")["unsorted"]]
        placed = {c: ("very-important", "important")[i % 2] for i, c in enumerate(cards[:6])}
        changes = [_move(card, "unsorted", pile) for card, pile in placed.items()]
        await tab.call(
            BoardState.get_full_name() + ".send_changes", {"batch": {"batch": "b0", "changes": changes}}
        )
        await tab.wait_for(lambda: (tab.get(BoardState, "acks") or {}).get("batch") == "b0", what="the acks")
        await tab.close()
        victim = Victim(code, key, pid, secret, placed, cards)
        view = await _session(api, victim)
        assert {c: p for p, cs in view["piles"][pid].items() for c in cs if p != "unsorted"} == placed
        victim.version = view["version"]
        return victim


async def _session(api: httpx.AsyncClient, victim: Victim) -> dict[str, Any]:
    r = await api.get(f"/api/sessions/{victim.code}", headers={"Authorization": f"Bearer {victim.key}"})
    assert r.status_code == 200, r.text
    return r.json()


def _callers(v: Victim) -> list[Caller]:
    forged = json.dumps({v.code: {"pid": v.pid, "secret": "not-the-secret"}})
    return [
        Caller("dashboard, no key", f"/s/{v.code}/facilitate", {"code": v.code}),
        Caller(
            "dashboard, wrong key",
            f"/s/{v.code}/facilitate",
            {"code": v.code, "key": "wrong-key"},
            {FACILITATOR_KEYS: json.dumps({v.code: "wrong-key"})},
        ),
        Caller("board, forged identity", f"/s/{v.code}", {"code": v.code}, {IDENTITIES: forged}),
        Caller("landing, nothing", "/", {}),
    ]


# --- what a hostile tab may never see ---------------------------------------------------------------------
def _leaks(tab: WsTab, frames: list[str], victim: Victim) -> list[str]:
    found = []
    text = "\n".join(frames)
    for secret, what in (
        (victim.key, "the facilitator key"),
        (victim.secret, "the victim's secret"),
        ("CARD_MOVED", "the event log"),
        ('"counts":{', "pile counts"),
    ):
        if secret in text:
            found.append(what)
    if ERROR_TOAST in text:
        found.append("an exception (error toast)")
    dashboard = tab.vars.get(DashboardState.get_full_name(), {})
    shown = ("rows", "live", "log", "chart", "reveals", "results", "selections", "export_csv_url", "join_qr")
    for name in shown:
        if dashboard.get(var(name)):
            found.append(f"dashboard {name}")
    if dashboard.get(var("status")) == "ready" or dashboard.get(var("title")):
        found.append("the dashboard")
    replay = tab.vars.get(ReplayState.get_full_name(), {})
    if replay.get(var("rows")) or replay.get(var("replay_ready")) or replay.get(var("max_seq")):
        found.append("the dashboard's replay")
    team = tab.vars.get(TeamState.get_full_name(), {})
    if team.get(var("status")) == "ready" or team.get(var("role")) or team.get(var("candidates")):
        found.append("the team board")
    board = tab.vars.get(BoardState.get_full_name(), {})
    if board.get(var("me")) == victim.pid:
        found.append("the board as the victim")
    for pile in ("very-important", "important", "top8", "top3"):
        if (board.get(var("piles")) or {}).get(pile):
            found.append(f"cards in {pile}")
    return found


def _log_size(app: AppServer) -> int:
    return app.log_path.stat().st_size


def _new_log(app: AppServer, since: int) -> str:
    with app.log_path.open("rb") as f:
        f.seek(since)
        return f.read().decode(errors="replace")


async def _open(app: AppServer, caller: Caller) -> WsTab:
    tab = WsTab(app.url, storage=dict(caller.storage), sentinel_event=SENTINEL, source=HOSTILE_ADDRESS)
    await tab.open(caller.path, caller.query)
    await tab.call(SENTINEL[0], {SENTINEL[1]: "ready?"})  # the page's on_load has run
    return tab


async def test_every_handler_refuses_hostile_callers(app_server: AppServer) -> None:
    victim = await _victim(app_server)
    log_start = _log_size(app_server)
    wire = _app_handlers()
    valid = _valid_args(victim)
    tried: Counter[str] = Counter()
    problems: list[str] = []
    forged_route = WsTab.route(f"/s/{victim.code}/facilitate", {"code": victim.code, "key": "wrong-key"})

    async def attempt(tab: WsTab, caller: Caller, key: tuple[str, str], payload: Any, route=None) -> None:
        frames = await tab.call(wire[key], payload, route)
        tried[".".join(key)] += 1
        for leak in _leaks(tab, frames, victim):
            problems.append(f"{caller.name}: {key[0]}.{key[1]}({str(payload)[:80]}) -> {leak}")

    for caller in _callers(victim):
        tab = await _open(app_server, caller)
        try:
            for leak in _leaks(tab, tab.raw, victim):
                problems.append(f"{caller.name}: opening the page -> {leak}")
            for key in sorted(wire):
                for payload in cases(valid[key]) + HOSTILE_PAYLOADS:
                    await attempt(tab, caller, key, payload)
                if key[1] == "join":  # the join request's own fields, each hostile in turn
                    ((arg, form),) = valid[key].items()
                    for field in form:
                        for value in HOSTILE_VALUES:
                            await attempt(tab, caller, key, {arg: {**form, field: value}})
                if key[1] == "setvar":
                    for name in SENSITIVE_VARS:
                        for value in (victim.code, "ready", victim.pid, {"x": 1}):
                            await attempt(tab, caller, key, {"var_name": name, "value": value})
                if key[1] in ("load", "on_load_internal", "hydrate_and_load", "send_commands"):
                    await attempt(tab, caller, key, valid[key], forged_route)  # claims the dashboard URL
            for stored in (
                {IDENTITIES: {"x": 1}},
                {IDENTITIES: "x" * 200_000},
                {FACILITATOR_KEYS: [1]},
                {IDENTITIES: json.dumps({victim.code: {"pid": victim.pid, "secret": None}})},
            ):
                await attempt(tab, caller, ("State", "hydrate_and_load"), {"vars": stored})
                await attempt(
                    tab, caller, ("UpdateVarsInternalState", "update_vars_internal"), {"vars": stored}
                )
        finally:
            await tab.close()

    assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:20])
    log = _new_log(app_server, log_start)
    assert "Traceback" not in log and "Backend Exception" not in log, log[-3000:]
    async with httpx.AsyncClient(base_url=app_server.url, timeout=30) as api:
        view = await _session(api, victim)
        r = await api.get(
            f"/api/sessions/{victim.code}/events",
            params={"after": 0, "limit": 1000},
            headers={"Authorization": f"Bearer {victim.key}"},
        )
    assert {
        c: p for p, cs in view["piles"][victim.pid].items() for c in cs if p != "unsorted"
    } == victim.placed
    victim_events = [e for e in r.json()["events"] if e["participantId"] == victim.pid]
    assert all(e["seq"] <= victim.version for e in victim_events), "a hostile call acted for the victim"
    assert sum(tried.values()) > 3000
    print("\nhostile calls per handler:", dict(sorted(tried.items())), "total", sum(tried.values()))


async def test_a_forged_identity_cannot_probe_piles(app_server: AppServer) -> None:
    """The issue's probe: with the victim's id and a wrong secret, try every card from every pile. Every
    answer must be the same generic refusal (or none), whatever the victim's piles hold."""
    victim = await _victim(app_server)
    tab = await _open(app_server, _callers(victim)[2])
    wire = _app_handlers()
    answers: Counter[tuple[str, tuple[str, ...]]] = Counter()
    probes = [
        _move(card, pile, "top3" if pile != "top3" else "top8") for card in victim.cards for pile in PILES
    ]
    probes += [
        {"id": str(uuid.uuid4()), "kind": "step", "fromStep": s, "toStep": s + d}
        for s in (1, 2)
        for d in (1, -1)
    ]
    probes += [{"id": str(uuid.uuid4()), "kind": kind} for kind in ("reveal", "leave", "erase")]
    try:
        for n, change in enumerate(probes):
            batch = f"probe-{n}"
            await tab.call(
                wire[("BoardState", "send_changes")], {"batch": {"batch": batch, "changes": [change]}}
            )
            acks = tab.get(BoardState, "acks") or {}
            reasons = (
                tuple(r["reason"] for r in acks.get("results", [])) if acks.get("batch") == batch else ()
            )
            answers[(tab.get(BoardState, "notice"), reasons)] += 1
    finally:
        await tab.close()
    assert len(answers) == 1, answers  # the same answer whatever the card and pile
    assert next(iter(answers)) in {("", ()), ("", (NOT_A_PARTICIPANT,))}, answers


def _wire_of(cls: type[rx.State], name: str) -> str:
    return f"{cls.get_full_name()}.{name}"


async def test_a_malformed_join_token_is_refused_in_words_and_joins_nobody(app_server: AppServer) -> None:
    """Both join forms' handlers, called with a token the browser never makes: the form says so, nobody
    joins; the same call with a well-formed token joins once, and its repeat resumes that participant."""
    async with httpx.AsyncClient(base_url=app_server.url, timeout=30) as api:
        r = await api.post("/api/sessions", json={"title": "Tokens", "deck": "values-mini"})
        code, key = r.json()["code"], r.json()["facilitatorKey"]
        landing = WsTab(app_server.url, sentinel_event=SENTINEL, source=HOSTILE_ADDRESS)
        board = WsTab(app_server.url, sentinel_event=SENTINEL, source=HOSTILE_ADDRESS)
        await landing.open("/", {})
        await board.open(f"/s/{code}", {"code": code})
        await board.wait_for(lambda: board.get(BoardState, "status") == "join", what="the join form")
        try:
            for bad in ("short", "a" * 31 + "!", "ａ" * 32, "x" * 65):
                # Over 64 characters the request is not even read (the generic refusal); else the service
                # names the problem.
                said = MALFORMED_JOIN_TOKEN if len(bad) <= 64 else MALFORMED
                await landing.call(
                    _wire_of(LandingState, "join"), {"form": {"code": code, "name": "Ann", "token": bad}}
                )
                assert landing.get(LandingState, "join_error") == said
                await board.call(_wire_of(BoardState, "join"), {"_form": {"name": "Bo", "token": bad}})
                shown = "join_error" if len(bad) <= 64 else "notice"
                assert board.get(BoardState, shown) == said
                assert board.get(BoardState, "status") == "join"
            headers = {"Authorization": f"Bearer {key}"}
            assert (await api.get(f"/api/sessions/{code}", headers=headers)).json()["participants"] == []
            for _ in range(2):  # the second is a join sent again: the same participant
                await board.call(_wire_of(BoardState, "join"), {"_form": {"name": "Bo", "token": JOIN_TOKEN}})
                assert board.get(BoardState, "status") == "ready"
            people = (await api.get(f"/api/sessions/{code}", headers=headers)).json()["participants"]
            assert [(p["id"], p["name"]) for p in people] == [(board.get(BoardState, "me"), "Bo")]
        finally:
            await landing.close()
            await board.close()


async def test_private_methods_are_not_handlers(app_server: AppServer) -> None:
    """The old public `sync` (the issue's leak) and the private helpers cannot be called at all."""
    victim = await _victim(app_server)
    tab = await _open(app_server, _callers(victim)[0])
    try:
        for cls, name in (
            (DashboardState, "sync"),
            (DashboardState, "_sync"),
            (BoardState, "sync"),
            (BoardState, "_sync"),
            (BoardState, "_act"),
            (IdentityState, "_identity_for"),
            (IdentityState, "identity_for"),
            (DashboardState, "_forget"),
        ):
            frames = await tab.call(_wire_of(cls, name), {})
            assert frames == [], f"{name}: {frames}"
            assert not _leaks(tab, frames, victim)
    finally:
        await tab.close()
    registered: set[str] = set(handlers())
    assert all(not w.rsplit(".", 1)[1].startswith("_") for w in registered)
    assert (
        _wire_of(DashboardState, "sync") not in registered and _wire_of(BoardState, "sync") not in registered
    )


@pytest.mark.parametrize("value", HOSTILE_VALUES[:3])
def test_hostile_values_are_varied(value: Callable | Any) -> None:
    """The argument cases really vary each argument (guards the generator itself)."""
    made = cases({"a": "ok", "b": 1})
    assert {"a": value, "b": 1} in made and {"a": "ok", "b": value} in made
