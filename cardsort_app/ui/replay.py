"""The dashboard's replay panel: scrub or play through the session's events (DESIGN §5b `replay-slider`,
`replay-view`)."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from cardsort_app.ui.dashboard_state import DashboardState
from cardsort_app.ui.live_view import live_head
from cardsort_app.ui.replay_state import SPEEDS, ReplayState


def _piles(r: rx.Var) -> rx.Component:
    """One participant's piles, folded under a one-line headline: 30 people × 48 cards spelled out would
    bury the rest of the dashboard."""
    return rx.el.details(
        rx.el.summary(
            rx.text.span(r["name"], weight="bold"),
            rx.text.span(" · ", r["headline"], color_scheme="gray"),
            style={"cursor": "pointer", "fontSize": "var(--font-size-1)", "lineHeight": "1.6"},
        ),
        rx.foreach(
            r["piles"].to(list[dict[str, str]]),
            lambda p: rx.text(
                rx.text.span(p["pile"], ": ", color_scheme="gray"), p["cards"], size="1", line_height="1.4"
            ),
        ),
        padding_y="2px",
        key=r["id"],
        data_testid="replay-piles",
        data_participant_name=r["name"],
    )


def _team() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("Team board", weight="bold", size="2"),
            rx.cond(
                ReplayState.team_locked,
                rx.badge("locked", color_scheme="green"),
                rx.cond(ReplayState.team_open, rx.badge("open", color_scheme="amber"), rx.badge("not open")),
            ),
            spacing="2",
        ),
        rx.text(
            "Team values: ",
            rx.cond(ReplayState.team_values.length() > 0, ReplayState.team_values.join(" · "), "none yet"),
            size="2",
            data_testid="replay-team-values",
        ),
        rx.text(
            "Candidates: ",
            rx.cond(ReplayState.team_candidates.length() > 0, ReplayState.team_candidates.join(", "), "none"),
            size="1",
            color_scheme="gray",
        ),
        spacing="1",
        width="100%",
    )


def replay_panel(progress_table: Callable[[rx.Var], rx.Component]) -> rx.Component:
    """`progress_table` renders the live participants table: the replay shows the very same rows."""
    return rx.card(
        rx.hstack(
            rx.icon("history", size=16),
            rx.text("Replay", weight="bold"),
            rx.text(
                "time travel through the event log; the live view above is not affected",
                size="1",
                color_scheme="gray",
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.hstack(
            rx.button(
                rx.cond(ReplayState.playing, rx.icon("pause", size=14), rx.icon("play", size=14)),
                rx.cond(ReplayState.playing, "Pause", "Play"),
                on_click=ReplayState.toggle_play,
                size="2",
                variant="soft",
                data_testid="replay-play",
            ),
            rx.el.input(
                type="range",
                min=0,
                # The live head (pushed with every event), so End / the far right reach the newest event
                # even after the replay was last rebuilt; the handler clamps to the log's head anyway.
                max=live_head(DashboardState.live, DashboardState.version),
                step=1,
                value=ReplayState.seq,
                on_change=ReplayState.scrub.debounce(40),
                aria_label="Replay position (event seq)",
                data_testid="replay-slider",
                style={"flex": "1", "minWidth": "160px", "accentColor": "var(--indigo-9)"},
            ),
            rx.select.root(
                # The trigger is the element in the page: it carries the name (axe: button-name) and the hook.
                rx.select.trigger(aria_label="Replay speed (events per second)", data_testid="replay-speed"),
                rx.select.content(*[rx.select.item(str(s), value=str(s)) for s in SPEEDS]),
                value=ReplayState.speed.to_string(),
                on_change=ReplayState.set_speed,
                size="1",
            ),
            rx.text("events/s", size="1", color_scheme="gray"),
            spacing="3",
            align="center",
            width="100%",
            padding_y="8px",
        ),
        rx.text(
            "seq ",
            ReplayState.seq,
            " of ",
            live_head(DashboardState.live, DashboardState.version),
            " · ",
            ReplayState.event_label,
            " · rebuilt in ",
            ReplayState.jump_ms,
            " ms",
            size="1",
            color_scheme="gray",
            data_testid="replay-position",
        ),
        progress_table(ReplayState.rows),
        rx.grid(
            rx.box(rx.foreach(ReplayState.rows, _piles), width="100%"),
            _team(),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
            padding_top="8px",
        ),
        data_testid="replay-view",
        data_seq=ReplayState.seq,
        width="100%",
    )
