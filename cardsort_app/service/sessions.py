"""SessionService: commands in, sequenced events out.

Every command is decided inside the log's append transaction, on the state at the log's head: the store
locks the session, brings this worker's projection level with whatever other workers appended, and the
command is checked and appended there, once -- no version check, no retry loop. The stored event is then
applied to the local projection and handed to the outbox relay, which publishes it on the bus. The
caller's identity always comes from a secret it proves, never from an id it claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

from cardsort_app import metrics
from cardsort_app.domain import names, rules
from cardsort_app.domain.custom_decks import CUSTOM_DECK
from cardsort_app.domain.decks import UnknownDeck, load_deck
from cardsort_app.domain.events import FACILITATOR_ID, Event, InvalidEvent, RevealType, parse_event
from cardsort_app.domain.facilitation import PACINGS
from cardsort_app.domain.portable import BadExport, rehome, verify_export
from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.rules import DomainError
from cardsort_app.domain.state import SessionState
from cardsort_app.service import secrets
from cardsort_app.service.bus_port import EventBus
from cardsort_app.service.errors import (
    Forbidden,
    InvalidImport,
    NotFacilitator,
    ReadOnly,
    Rejected,
    ServiceError,
    SessionNotFound,
)
from cardsort_app.service.hub import SessionHub
from cardsort_app.service.limits import Limits
from cardsort_app.service.relay import OutboxRelay
from cardsort_app.service.store_port import DuplicateEventId, ParticipantExists, SessionExists, Store

log = logging.getLogger(__name__)


NAME_FIELD = "payload.participant.name"
DEFAULT_TITLE = "Values card sort"


def _clean_title(title: str | None) -> str:
    """NFKC, no invisible or control characters (domain/names.py); nothing visible -> the default."""
    if not (title or "").strip():
        return DEFAULT_TITLE
    try:
        return names.clean_title(title or "")
    except names.InvalidText as exc:
        if "visible" in str(exc):
            return DEFAULT_TITLE
        raise Rejected(str(exc)) from exc


MALFORMED_JOIN_TOKEN = "This join request was malformed; reload the page and join again"
_ID_TAKEN = "This change's id is already used by another change; send it again with a new id"


def _same_origin(stored: Event, event: Event) -> bool:
    """A stored event with `event`'s id is its earlier copy only if the same session and sender made it."""
    return stored.session_code == event.session_code and stored.participant_id == event.participant_id


def _counts_refusals(command):
    """Count a command the service refuses, by reason (the metrics' refused-commands counter)."""

    @functools.wraps(command)
    async def counted(*args, **kwargs):
        try:
            return await command(*args, **kwargs)
        except ServiceError as exc:
            reason = {Rejected: "rejected", Forbidden: "forbidden", SessionNotFound: "not_found"}
            metrics.refused(reason.get(type(exc), "other"))
            raise

    return counted


def with_id(build, event_id: str | None):
    """`build`, whose event gets `event_id` (the id a browser chose for a command it may send again: the
    log stores an id once, so a repeat appends nothing)."""
    if event_id is None:
        return build

    def decide(state: SessionState) -> Event | None:
        event = build(state)
        return None if event is None else event.model_copy(update={"id": event_id})

    return decide


def derived_id(base: str, part: str) -> str:
    """A stable event id for one of the events a command with id `base` writes."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cardsort:{base}:{part}"))


@dataclass(frozen=True)
class CreatedSession:
    code: str
    facilitator_key: str


@dataclass(frozen=True)
class Identity:
    """Who a browser is in one session: kept in its localStorage, the secret proves the id."""

    participant_id: str
    secret: str


class SessionService:
    def __init__(
        self, store: Store, bus: EventBus, hub: SessionHub, relay: OutboxRelay, limits: Limits | None = None
    ) -> None:
        self.limits = limits or Limits()
        self.store = store
        self.bus = bus
        self.hub = hub
        self.relay = relay
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: Counter[str] = Counter()
        self._token_hashes: dict[tuple[str, str], str] = {}
        self._read_only: dict[str, bool] = {}  # fixed when a session is made: safe to cache

    # --- sessions -------------------------------------------------------------------------------------
    async def create_session(
        self,
        title: str = "",
        deck: str = "values",
        *,
        anonymous: bool = False,
        pacing: str = "self",
        custom_cards: list[dict[str, str]] | None = None,
        client: str | None = None,
    ) -> CreatedSession:
        """``custom_cards`` ({id, label, description}, from ``custom_decks.parse_deck_csv``) replace the
        named deck; their text is stored in the session's first event."""
        self.limits.create(client, self.hub.open_sessions())
        title = _clean_title(title)
        if pacing not in PACINGS:
            raise Rejected(f"pacing must be one of {', '.join(PACINGS)}")
        try:
            cards = load_deck(deck) if custom_cards is None else None
        except UnknownDeck as exc:
            raise Rejected(str(exc)) from exc
        deck_name = cards.name if cards is not None else CUSTOM_DECK
        card_ids = [c.id for c in cards.cards] if cards is not None else [c["id"] for c in custom_cards or ()]
        options = {"anonymous": anonymous or None, "pacing": pacing if pacing != "self" else None}
        event = self._build(
            lambda: rules.create_session("PENDING", title, deck_name, card_ids, cards=custom_cards, **options)
        )
        key = secrets.new_secret()
        for _ in range(10):
            code = secrets.new_code()
            try:
                await self.store.create_session(code, title, deck_name, secrets.hash_secret(key))
                break
            except SessionExists:
                continue
        else:  # pragma: no cover - 31^6 codes
            raise Rejected("Could not allocate a session code; try again")
        event = event.model_copy(update={"session_code": code})
        await self._commit(code, lambda _state: event)
        return CreatedSession(code=code, facilitator_key=key)

    async def require_session(self, code: str) -> str:
        code = secrets.normalize_code(code)
        if (held := self.hub.loaded(code)) is not None and held.version > 0:
            return code  # this worker holds its projection (tabs are in it): it exists, no read needed
        if not code or await self.store.get_session(code) is None:
            raise SessionNotFound(code)
        return code

    async def facilitate(
        self, code: str, key: str | None, build, *, event_id: str | None = None
    ) -> Event | None:
        """A facilitator command, decided from the current state: ``build(state) -> event``; with
        ``event_id`` the event gets that id (a command resent under it is appended once)."""
        code = await self.check_facilitator(code, key)
        return await self._commit(code, with_id(build, event_id))

    async def system_command(self, code: str, build) -> Event | None:
        """A command the server makes on its own (the idle sweeper): nobody to authorise."""
        return await self._commit(secrets.normalize_code(code), build)

    async def check_facilitator(self, code: str, key: str | None) -> str:
        """The normalised code when `key` is its facilitator key; NotFacilitator (the same answer for an
        unknown code and a wrong key) otherwise."""
        code = secrets.normalize_code(code)
        record = await self.store.get_session(code)
        if record is None or not secrets.matches(key, record.facilitator_key_hash):
            raise NotFacilitator(code)
        return code

    # --- participants ---------------------------------------------------------------------------------
    @_counts_refusals
    async def join(
        self,
        code: str,
        name: str,
        identity: Identity | None = None,
        *,
        client: str | None = None,
        token: str | None = None,
    ) -> Identity:
        """Join, or resume the identity the browser already holds. Never makes a second copy of anyone.

        `token` is the browser's own secret for this session, made and kept before its first join was sent:
        the identity is derived from it (`secrets.participant_id_for`, the token as its secret), so a join
        sent again after its answer was lost resumes the participant the first copy made. Without a token
        the server makes the secret, and only the answer carries it. A new join counts against `client`'s
        join attempts and the session's participant cap."""
        normalized = secrets.normalize_code(code)
        claimed = None
        if token is not None:
            if not secrets.is_join_token(token):
                raise Rejected(MALFORMED_JOIN_TOKEN)
            claimed = Identity(secrets.participant_id_for(normalized, token), token)
        held = None
        for candidate in (identity, claimed):
            if candidate is None or not await self._verify(normalized, candidate):
                continue
            if await self._erased(normalized, candidate.participant_id):
                # "Leave and erase my name" ended that identity: whoever joins next from this browser (a
                # shared tablet) is someone new, who must not get the erased person's sort.
                if candidate is claimed:  # the token stands for the erased one: the server makes a new one
                    claimed = None
                continue
            held = candidate
            break
        if held is None:
            self.limits.join_attempt(client)
        code = await self.require_session(code)
        me = held or claimed or Identity(secrets.new_participant_id(), secrets.new_secret())
        pid = me.participant_id

        def decide(state: SessionState) -> Event | None:
            current = state.participant(pid)
            return rules.join(state, pid, current.name if current and not name.strip() else name)

        if held and (current := (await self.hub.state(code)).participant(pid)) and current.active:
            return me  # resuming (a reload, a second tab, a join sent again): nothing to decide or write
        if not held:
            # Check the name before registering the identity so a refused join leaves nothing behind.
            state = await self.hub.state(code)
            if (full := self.limits.session_full(len(state.active_participants))) is not None:
                raise Rejected(full)
            self._check(state, self._build(lambda: rules.join(state, pid, name)))
            try:
                await self.store.add_participant(code, pid, secrets.hash_secret(me.secret))
            except ParticipantExists as exc:  # the id of another token: never hand it over
                raise Rejected(MALFORMED_JOIN_TOKEN) from exc
            _remember(self._token_hashes, (code, pid), secrets.hash_secret(me.secret))
        await self._commit(code, decide)
        return me

    def check_command_rate(self, code: str, participant_id: str) -> None:
        """LimitExceeded when this participant sends commands faster than the configured rate."""
        self.limits.command(secrets.normalize_code(code), participant_id)

    async def authenticate(self, code: str, identity: Identity | None) -> str:
        code = secrets.normalize_code(code)
        if identity is None or not await self._verify(code, identity):
            raise Forbidden("This browser is not a participant of this session; join first")
        return identity.participant_id

    async def _erased(self, code: str, participant_id: str) -> bool:
        person = (await self.hub.state(code)).participant(participant_id)
        return person is not None and not person.active and not person.name

    async def _verify(self, code: str, identity: Identity) -> bool:
        key = (code, identity.participant_id)
        stored = self._token_hashes.get(key)
        if stored is None:
            stored = await self.store.participant_token_hash(code, identity.participant_id)
            if stored is not None:
                _remember(self._token_hashes, key, stored)
        return secrets.matches(identity.secret, stored)

    # --- commands -------------------------------------------------------------------------------------
    @_counts_refusals
    async def submit(self, code: str, identity: Identity, event: Event | dict) -> Event | None:
        """Append a participant's own (optimistically applied) event; returns it sequenced.

        Raises Rejected with the rule's message when it no longer applies, Forbidden when the event
        claims to be somebody else's.
        """
        pid = await self.authenticate(code, identity)
        try:
            event = parse_event(event)
        except InvalidEvent as exc:
            raise Rejected(str(exc)) from exc
        if event.participant_id != pid or event.session_code != secrets.normalize_code(code):
            raise Forbidden("An event may only be sent by the participant it names, in its own session")
        return await self._commit(event.session_code, lambda _state: event)

    @_counts_refusals
    async def command(self, code: str, identity: Identity, build) -> Event | None:
        """Decide a command from the current state: `build(state, participant_id) -> event`."""
        pid = await self.authenticate(code, identity)
        return await self._commit(secrets.normalize_code(code), lambda state: build(state, pid))

    async def leave(self, code: str, identity: Identity) -> Event | None:
        return await self.command(code, identity, rules.leave)

    async def landed(self, code: str, event_id: str, sender: str) -> bool:
        """Whether `sender` already stored an event with this id in this session (a resent command)."""
        found = await self.store.find_event(event_id)
        return (
            found is not None
            and found.session_code == secrets.normalize_code(code)
            and found.participant_id == sender
        )

    async def reveal_all(
        self, code: str, facilitator_key: str, *, event_id: str | None = None
    ) -> list[Event]:
        """The facilitator reveals every selection that can be revealed and is not yet; with
        ``event_id``, each reveal's id is derived from it (`derived_id`), so a resent command adds none."""
        code = await self.check_facilitator(code, facilitator_key)
        state = await self.hub.state(code)
        made: list[Event] = []
        for person in state.active_participants:
            for reveal_type in (RevealType.TOP8, RevealType.TOP3):
                if state.reveal_of(person.id, reveal_type) is not None:
                    continue

                def decide(s: SessionState, pid: str = person.id, rt: RevealType = reveal_type) -> Event:
                    return rules.reveal(s, pid, rt)

                the_id = derived_id(event_id, f"{person.id}:{reveal_type}") if event_id else None
                try:
                    if (event := await self._commit(code, with_id(decide, the_id))) is not None:
                        made.append(event)
                except Rejected:
                    continue  # not revealable (yet): skip, it's a bulk action
        return made

    # --- the facilitator's own events (the team board) ----------------------------------------------
    async def facilitator_command(
        self, code: str, facilitator_key: str | None, build, *, event_id: str | None = None
    ) -> Event | None:
        """Decide a facilitator command from the current state: `build(state) -> event` (see `facilitate`)."""
        return await self.facilitate(code, facilitator_key, build, event_id=event_id)

    async def submit_as_facilitator(
        self, code: str, facilitator_key: str | None, event: Event | dict
    ) -> Event | None:
        """Append an event the facilitator's tab built (and shows optimistically); see `submit`."""
        code = await self.check_facilitator(code, facilitator_key)
        try:
            event = parse_event(event)
        except InvalidEvent as exc:
            raise Rejected(str(exc)) from exc
        if event.participant_id != FACILITATOR_ID or event.session_code != code:
            raise Forbidden("The facilitator may only send the facilitator's events, in their own session")
        return await self._commit(code, lambda _state: event)

    # --- portable sessions --------------------------------------------------------------------------
    async def import_session(self, export: object, *, client: str | None = None) -> CreatedSession:
        """A new read-only session replaying an `export.json`; InvalidImport (nothing created) when the
        export is malformed, truncated or tampered with (the message names the first bad event). Counts
        against `client`'s session creations, like creating one."""
        self.limits.create(client, self.hub.open_sessions())
        try:
            verified = await asyncio.to_thread(verify_export, export)
        except BadExport as exc:
            raise InvalidImport(f"Not imported: {exc}") from exc
        key = secrets.new_secret()
        every = self.store.snapshot_every
        for _ in range(10):
            code = secrets.new_code()
            if await self.store.get_session(code) is not None:
                continue
            events = list(rehome(verified.events, code))
            snapshots = await asyncio.to_thread(_snapshots, events, every)
            state = verified.state
            try:
                await self.store.import_session(
                    code, state.title, state.deck, secrets.hash_secret(key), events, snapshots
                )
            except SessionExists:
                continue
            _remember(self._read_only, code, True)
            return CreatedSession(code=code, facilitator_key=key)
        raise Rejected("Could not allocate a session code; try again")  # pragma: no cover

    async def is_read_only(self, code: str) -> bool:
        cached = self._read_only.get(code)
        if cached is None:
            record = await self.store.get_session(code)
            cached = bool(record and record.read_only)
            if record is not None:
                _remember(self._read_only, code, cached)
        return cached

    # --- the one write path ---------------------------------------------------------------------------
    async def _commit(self, code: str, decide) -> Event | None:
        """Decide against the log's head and append, in one store transaction; then apply and publish.

        The local lock keeps this process's commands for a session in line; the store's transaction makes
        the decision see every event before it, whichever worker appended them.
        """
        if await self.is_read_only(code):
            raise ReadOnly()
        started = time.perf_counter()
        async with self._session_lock(code):
            base = await self.hub.state(code)
            made: list[Event] = []

            def decide_checked(current: SessionState) -> Event | None:
                event = self._build(partial(decide, current))
                if event is None or rules.is_noop(current, event):
                    return None
                made.append(event)
                self._check(current, event)
                return event

            try:
                tail, stored = await self.store.append_decided(code, base, decide_checked)
            except Rejected as rejection:
                await self.hub.catch_up(code)  # the decision may have seen events the hub has not
                event = made[-1] if made else None
                if event is not None:
                    found = await self.store.find_event(event.id)
                    if found is not None and _same_origin(found, event):
                        return found  # a retried event that already landed: idempotent
                    await self._diagnose(code, "rejected", {"eventId": event.id, "reason": str(rejection)})
                raise
            except DuplicateEventId as exc:  # the sender reused an id of another session
                raise Rejected(_ID_TAKEN) from exc
            for event in tail:  # appended by another worker, not yet delivered here by the bus
                await self.hub.receive(event)
            if stored is None:
                return None
            if not _same_origin(stored, made[-1]):  # an id of somebody else's event: nothing appended
                raise Rejected(_ID_TAKEN)
            metrics.COMMAND_APPENDED.observe(time.perf_counter() - started)
            await self.hub.receive(stored)
        self.relay.submit(stored)
        return stored

    @contextlib.asynccontextmanager
    async def _session_lock(self, code: str) -> AsyncIterator[None]:
        """This process's commands for `code`, one at a time; the lock goes with its last user, so
        sessions that are over hold no memory."""
        lock = self._locks.setdefault(code, asyncio.Lock())
        self._lock_users[code] += 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[code] -= 1
            if not self._lock_users[code]:
                del self._lock_users[code], self._locks[code]

    async def _diagnose(self, code: str, kind: str, detail: dict) -> None:
        try:
            await self.bus.debug(code, kind, detail)
        except Exception:  # diagnostics are best effort
            log.debug("diagnostic %s for %s not sent", kind, code, exc_info=True)

    @staticmethod
    def _build(make):
        try:
            return make()
        except InvalidEvent as exc:
            if NAME_FIELD in str(exc):
                detail = str(exc).split(NAME_FIELD, 1)[1].lstrip(": ")
                raise Rejected(detail or "Enter a display name of 1 to 40 characters") from exc
            if "name" in str(exc):
                raise Rejected("Enter a display name of 1 to 40 characters") from exc
            raise Rejected(str(exc)) from exc

    @staticmethod
    def _check(state: SessionState, event: Event) -> None:
        try:
            rules.check(state, event)
        except DomainError as exc:
            raise Rejected(str(exc)) from exc


#: Entries kept by each of the service's read caches (token hashes, read-only flags): the log has them
#: all, so a bounded cache keeps a long-running worker's memory flat however many sessions it has seen.
MAX_CACHED = 20_000


def _remember(cache: dict, key: object, value: object) -> None:
    cache.pop(key, None)
    cache[key] = value  # newest last: the oldest entry goes first
    if len(cache) > MAX_CACHED:
        del cache[next(iter(cache))]


def _snapshots(events: list[Event], every: int) -> list[SessionState]:
    """The states at every multiple of `every` seqs, as the log would have snapshotted them."""
    out: list[SessionState] = []
    state: SessionState | None = None
    for event in events:
        state = reduce(state or SessionState.empty(event.session_code), event)
        if event.seq is not None and event.seq % every == 0:
            out.append(state)
    return out
