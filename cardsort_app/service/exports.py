"""Exports of a session (CSV of every participant's piles, JSON of the whole log) and their download links.

A browser link cannot carry the ``Authorization`` header, and the facilitator key must not sit in a URL
(it would stay in history and logs). So the dashboard's export links carry a short-lived download token
instead: ``<expiry ms>.<HMAC-SHA256 of code and expiry, keyed by the stored key hash>``. Any worker can
check it (the hash is in the database), it opens only this session's exports, and it expires.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import time
from typing import Any

from cardsort_app.domain.custom_decks import session_deck
from cardsort_app.domain.results import CSV_HEADER, csv_rows
from cardsort_app.domain.state import SessionState
from cardsort_app.domain.team import card_label
from cardsort_app.domain.upcasting import CURRENT_SCHEMA_VERSION

#: How long a dashboard's export link works (the dashboard renews it on every update).
TOKEN_TTL_MS = 60 * 60 * 1000

#: Spreadsheets run cells starting with these as formulas; such cells get a leading apostrophe (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _sign(key_hash: str, code: str, expires: int) -> str:
    return hmac.new(key_hash.encode(), f"export:{code}:{expires}".encode(), hashlib.sha256).hexdigest()


def export_token(code: str, key_hash: str, now_ms: int | None = None) -> str:
    expires = (now_ms if now_ms is not None else time.time_ns() // 1_000_000) + TOKEN_TTL_MS
    return f"{expires}.{_sign(key_hash, code, expires)}"


def token_valid(token: str | None, code: str, key_hash: str, now_ms: int | None = None) -> bool:
    if not token or len(token) > 100 or "." not in token:
        return False
    expires_text, signature = token.split(".", 1)
    if not expires_text.isdigit():
        return False
    expires = int(expires_text)
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    return expires >= now and hmac.compare_digest(signature, _sign(key_hash, code, expires))


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def session_csv(state: SessionState) -> str:
    """``participant,card_id,card_label,pile,rank``: one row per participant × card (see results.csv_rows)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in csv_rows(state, session_deck(state)):
        writer.writerow([_cell(v) for v in row])
    for row in team_rows(state):
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


#: The `participant` of the team values' rows in the CSV export.
TEAM_ROW_NAME = "Team values"


def team_rows(state: SessionState) -> list[tuple[str, str, str, str, str]]:
    """Once the team board is locked, its final values follow the participants' rows: participant
    ``Team values``, pile ``team-values``, rank 1..5."""
    if not state.team.locked:
        return []
    return [
        (TEAM_ROW_NAME, card, card_label(state, card), "team-values", str(rank))
        for rank, card in enumerate(state.team.values, start=1)
    ]


def export_filename(state: SessionState, ext: str) -> str:
    return f"cardsort-{state.code}.{ext}"


def json_export(session: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """`session` (the GET view, with the team board), the events, and the event schema version they are
    written in (domain/upcasting.py), so an import years later upcasts them right."""
    return {"session": session, "events": events, "schemaVersion": CURRENT_SCHEMA_VERSION}
