"""Print a session's state at any point of its log, for debugging a reported problem.

    python -m cardsort_app.tools.replay export.json --at 120      # an export file (GET .../export.json)
    python -m cardsort_app.tools.replay K7QM2P --at 120           # a session in DATABASE_URL's database
    python -m cardsort_app.tools.replay K7QM2P                    # ... at its newest event

The state comes from the app's own reducers: from an export by replaying its events (after upcasting them
from the export's schema version), from the database by ``EventStore.load_at`` (snapshot + tail).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cardsort_app.domain import team
from cardsort_app.domain.events import Event, InvalidEvent
from cardsort_app.domain.reducer import reduce
from cardsort_app.domain.state import PILES, SessionState
from cardsort_app.domain.upcasting import parse_versioned

_SHORT = {"unsorted": "uns.", "very-important": "very", "important": "imp.", "not-important": "not"}

#: Below this many events a progress bar would only flicker.
PROGRESS_FROM = 2000


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def state_from_export(path: Path, at: int | None, console: Console) -> tuple[SessionState, int, Event | None]:
    """(state after seq `at`, the log's last seq, the event at `at`) from an export file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("events"), list) or not data["events"]:
        raise SystemExit(f'{path}: not an export (expected {{"session": ..., "events": [...]}})')
    session = data.get("session") if isinstance(data.get("session"), dict) else {}
    version = data.get("schemaVersion", session.get("schemaVersion", 1))
    raw = data["events"]
    last = len(raw)
    upto = last if at is None else min(max(0, at), last)
    state: SessionState | None = None
    current: Event | None = None
    with _progress(console) as progress:
        task = progress.add_task("replaying", total=upto, visible=upto >= PROGRESS_FROM)
        for index, wire in enumerate(raw[:upto]):
            try:
                event = parse_versioned(wire, version)
            except InvalidEvent as exc:
                raise SystemExit(f"{path}: event {index + 1}: {exc}") from exc
            state = reduce(state or SessionState.empty(event.session_code), event)
            current = event
            if index % 500 == 0:
                progress.update(task, completed=index)
        progress.update(task, completed=upto)
    if state is None:  # --at 0: before the first event
        first = parse_versioned(raw[0], version)
        state = SessionState.empty(first.session_code)
    return state, last, current


def state_from_database(code: str, at: int | None, url: str | None) -> tuple[SessionState, int, Event | None]:
    from cardsort_app.settings import load_settings
    from cardsort_app.store.errors import UnknownSession
    from cardsort_app.store.eventstore import EventStore

    store = EventStore(url or load_settings().database_url)
    try:
        record = store.get_session(code)
        if record is None:
            raise SystemExit(f"no session {code!r} in {store.url.split('@')[-1]}")
        upto = record.last_seq if at is None else min(max(0, at), record.last_seq)
        try:
            state = store.load_at(code, upto)
        except UnknownSession as exc:
            raise SystemExit(f"no session {code!r}") from exc
        current = store.events_after(code, upto - 1, 1)[0] if upto >= 1 else None
        return state, record.last_seq, current
    finally:
        store.dispose()


def render(console: Console, state: SessionState, last: int, current: Event | None) -> None:
    what = f"{current.type} by {current.participant_id}" if current else "before the first event"
    console.print(
        f"[bold]{state.code}[/] {state.title!r} · deck {state.deck} · "
        f"seq [bold]{state.version}[/] of {last} · {what}"
    )
    people = Table(title="Participants", show_lines=False)
    for column in ("name", "id", "step", "active"):
        people.add_column(column, justify="right" if column == "step" else "left")
    for pile in PILES:
        people.add_column(_SHORT.get(pile, pile), justify="right")
    people.add_column("top 3")
    for p in state.participants.values():
        people.add_row(
            p.name,
            p.id,
            "Done" if p.step >= 4 else str(p.step),
            "yes" if p.active else "left",
            *[str(len(p.pile(pile))) for pile in PILES],
            ", ".join(team.card_label(state, c) for c in p.top3),
        )
    console.print(people)
    if state.reveals:
        reveals = Table(title="Reveals")
        for column in ("participant", "type", "cards", "seq"):
            reveals.add_column(column)
        for r in state.reveals:
            cards = ", ".join(team.card_label(state, c) for c in r.cards)
            reveals.add_row(r.participant_name, str(r.reveal_type), cards, str(r.seq))
        console.print(reveals)
    board = Table(
        title="Team board "
        + ("(locked)" if state.team.locked else "(open)" if state.team.open else "(not open)")
    )
    board.add_column("#", justify="right")
    board.add_column("team value")
    board.add_column("placed by")
    for i, card in enumerate(state.team.values, 1):
        mover = state.team.moves.get(card)
        board.add_row(str(i), team.card_label(state, card), mover.participant_name if mover else "")
    console.print(board)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cardsort_app.tools.replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", help="an export.json file, or a session code in the database")
    parser.add_argument("--at", type=int, default=None, help="the seq to stop after (default: the newest)")
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL or the embedded SQLite")
    args = parser.parse_args(argv)
    console = Console()
    source = Path(args.source)
    if source.suffix == ".json" or source.is_file():
        state, last, current = state_from_export(source, args.at, console)
    else:
        state, last, current = state_from_database(args.source.strip().upper(), args.at, args.database_url)
    render(console, state, last, current)
    return 0


if __name__ == "__main__":
    sys.exit(main())
