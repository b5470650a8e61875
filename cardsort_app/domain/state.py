"""Immutable session state: what ``reduce`` produces and snapshots persist.

Frozen dataclasses so a projection handed to many tabs can never be changed behind their back. The dicts
inside are never mutated after construction: the reducer copies on write. ``to_dict``/``from_dict`` give a
JSON-safe round trip (``from_dict(to_dict(s)) == s``) for snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .events import Pile, RevealType

__all__ = [
    "PILES",
    "SNAPSHOT_FORMAT",
    "CardText",
    "ParticipantState",
    "Reveal",
    "SessionState",
    "TeamMove",
    "TeamState",
    "empty_piles",
]

#: Every participant has exactly these piles, in this (display) order.
PILES: tuple[str, ...] = tuple(p.value for p in Pile)

#: Bump when the ``to_dict`` layout changes so old snapshots are recognised (and rebuilt from the log).
#: Format 2 added the facilitator's options (pacing, timer, end, anonymity, custom cards); a format-1
#: snapshot still loads, with those at their defaults (which is what a format-1 session had).
SNAPSHOT_FORMAT = 2
_READABLE_FORMATS = (1, 2)


def empty_piles() -> dict[str, tuple[str, ...]]:
    return {p: () for p in PILES}


@dataclass(frozen=True, slots=True)
class ParticipantState:
    id: str
    name: str
    step: int = 1
    piles: dict[str, tuple[str, ...]] = field(default_factory=empty_piles)
    active: bool = True

    def pile(self, pile: str) -> tuple[str, ...]:
        return self.piles.get(str(pile), ())

    def pile_of(self, card_id: str) -> Pile | None:
        """The pile holding ``card_id`` for this participant, or None."""
        for name, cards in self.piles.items():
            if card_id in cards:
                return Pile(name)
        return None

    @property
    def top8(self) -> tuple[str, ...]:
        """The participant's top 8: in step 3 cards move on from ``top8`` to ``top3``, so both count."""
        return self.pile(Pile.TOP8) + self.pile(Pile.TOP3)

    @property
    def top3(self) -> tuple[str, ...]:
        return self.pile(Pile.TOP3)

    def selection(self, reveal_type: str) -> tuple[str, ...]:
        """The cards a reveal of ``reveal_type`` ("top8" / "top3") shows."""
        return self.top8 if RevealType(reveal_type) is RevealType.TOP8 else self.top3

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "step": self.step,
            "active": self.active,
            "piles": {p: list(self.pile(p)) for p in PILES},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParticipantState:
        piles = empty_piles()
        piles.update({str(k): tuple(v) for k, v in d["piles"].items()})
        return cls(id=d["id"], name=d["name"], step=int(d["step"]), piles=piles, active=bool(d["active"]))


@dataclass(frozen=True, slots=True)
class Reveal:
    participant_id: str
    participant_name: str
    reveal_type: str
    cards: tuple[str, ...]
    seq: int | None  # None only in an optimistic (not yet sequenced) view

    def to_dict(self) -> dict[str, Any]:
        return {
            "participant_id": self.participant_id,
            "participant_name": self.participant_name,
            "reveal_type": str(self.reveal_type),
            "cards": list(self.cards),
            "seq": self.seq,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reveal:
        return cls(
            participant_id=d["participant_id"],
            participant_name=d["participant_name"],
            reveal_type=str(d["reveal_type"]),
            cards=tuple(d["cards"]),
            seq=d["seq"],
        )


@dataclass(frozen=True, slots=True)
class TeamMove:
    """The newest move of one team-board card: who made it, at which seq (0 while optimistic)."""

    seq: int
    participant_id: str
    participant_name: str


@dataclass(frozen=True, slots=True)
class TeamState:
    """The shared team board (see ``domain/team.py``): the ordered team values and each card's last move.

    Candidates are not stored: they are the revealed top-3 cards not in ``values``.
    """

    open: bool = False
    locked: bool = False
    values: tuple[str, ...] = ()
    moves: dict[str, TeamMove] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "locked": self.locked,
            "values": list(self.values),
            "moves": {c: [m.seq, m.participant_id, m.participant_name] for c, m in self.moves.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TeamState:
        return cls(
            open=bool(d["open"]),
            locked=bool(d["locked"]),
            values=tuple(d["values"]),
            moves={c: TeamMove(int(m[0]), str(m[1]), str(m[2])) for c, m in d["moves"].items()},
        )


@dataclass(frozen=True, slots=True)
class CardText:
    """A custom deck's card as the session stored it (shipped decks are looked up by name instead)."""

    id: str
    label: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class SessionState:
    code: str
    title: str = ""
    deck: str = ""
    card_ids: tuple[str, ...] = ()
    version: int = 0
    participants: dict[str, ParticipantState] = field(default_factory=dict)
    reveals: tuple[Reveal, ...] = ()
    team: TeamState = field(default_factory=TeamState)
    # The facilitator's workshop (reduced in domain/facilitation.py).
    anonymous: bool = False
    pacing: str = "self"  # "self" | "facilitator"
    open_step: int = 1  # facilitator-paced: the highest step participants may work in
    timer_ends_at: int | None = None  # epoch ms while a countdown is set (it may have passed zero)
    timer_seconds: int = 0  # the countdown's length (for "3:00 of 5:00" displays)
    ended: bool = False
    ended_reason: str = ""
    custom_cards: tuple[CardText, ...] = ()

    @classmethod
    def empty(cls, code: str) -> SessionState:
        """The state before SESSION_CREATED: the starting point of every replay."""
        return cls(code=code)

    @property
    def is_created(self) -> bool:
        return bool(self.deck)

    def participant(self, participant_id: str) -> ParticipantState | None:
        return self.participants.get(participant_id)

    @property
    def active_participants(self) -> tuple[ParticipantState, ...]:
        return tuple(p for p in self.participants.values() if p.active)

    def reveal_of(self, participant_id: str, reveal_type: str) -> Reveal | None:
        for r in self.reveals:
            if r.participant_id == participant_id and r.reveal_type == reveal_type:
                return r
        return None

    def evolve(self, **changes: Any) -> SessionState:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict for snapshots; participants keep their join order."""
        return {
            "format": SNAPSHOT_FORMAT,
            "code": self.code,
            "title": self.title,
            "deck": self.deck,
            "card_ids": list(self.card_ids),
            "version": self.version,
            "participants": [p.to_dict() for p in self.participants.values()],
            "reveals": [r.to_dict() for r in self.reveals],
            "team": self.team.to_dict(),
            "anonymous": self.anonymous,
            "pacing": self.pacing,
            "open_step": self.open_step,
            "timer_ends_at": self.timer_ends_at,
            "timer_seconds": self.timer_seconds,
            "ended": self.ended,
            "ended_reason": self.ended_reason,
            "custom_cards": [[c.id, c.label, c.description] for c in self.custom_cards],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SessionState:
        fmt = d.get("format", SNAPSHOT_FORMAT)
        if fmt not in _READABLE_FORMATS:
            raise ValueError(f"unsupported snapshot format {fmt!r} (expected one of {_READABLE_FORMATS})")
        participants = [ParticipantState.from_dict(p) for p in d["participants"]]
        return cls(
            code=d["code"],
            title=d["title"],
            deck=d["deck"],
            card_ids=tuple(d["card_ids"]),
            version=int(d["version"]),
            participants={p.id: p for p in participants},
            reveals=tuple(Reveal.from_dict(r) for r in d["reveals"]),
            # Snapshots taken before the team board existed have no "team": its empty state is right.
            team=TeamState.from_dict(d["team"]) if "team" in d else TeamState(),
            anonymous=bool(d.get("anonymous", False)),
            pacing=str(d.get("pacing", "self")),
            open_step=int(d.get("open_step", 1)),
            timer_ends_at=d.get("timer_ends_at"),
            timer_seconds=int(d.get("timer_seconds", 0)),
            ended=bool(d.get("ended", False)),
            ended_reason=str(d.get("ended_reason", "")),
            custom_cards=tuple(CardText(*c) for c in d.get("custom_cards", ())),
        )
