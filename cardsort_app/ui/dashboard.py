"""`/s/{code}/facilitate`: everyone's progress, reveals, group results and the raw event log, live."""

from __future__ import annotations

import reflex as rx

from cardsort_app.domain.rules import PILE_LABELS
from cardsort_app.domain.state import PILES
from cardsort_app.ui.components import online_dot, reveal_block, step_badge
from cardsort_app.ui.dashboard_controls import join_card, workshop_card
from cardsort_app.ui.dashboard_state import FROZEN, DashboardState
from cardsort_app.ui.dashboard_team import team_panel
from cardsort_app.ui.live_view import count_where, live_head, live_list, live_reveals, live_rows
from cardsort_app.ui.outbox import command, command_outbox
from cardsort_app.ui.replay import replay_panel
from cardsort_app.ui.results import results_card
from cardsort_app.ui.theme import ACCENT, brand, page_shell


def _stat(label: str, value: rx.Var, icon: str) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon(icon, size=20, color=rx.color(ACCENT, 9)),
            rx.vstack(
                rx.text(label, size="1", color_scheme="gray"),
                rx.text(value, size="5", weight="bold"),
                spacing="0",
            ),
            align="center",
            spacing="3",
        ),
        flex="1",
        min_width="140px",
    )


def _progress_row(r: rx.Var) -> rx.Component:
    counts = r["counts"].to(dict[str, int])
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                online_dot(r["online"]), rx.text(r["name"], weight="medium"), align="center", spacing="2"
            )
        ),
        rx.table.cell(step_badge(r["step"].to(int))),
        rx.table.cell(
            rx.progress(
                value=r["sorted"].to(int),
                max=DashboardState.deck_size,
                width="90px",
                aria_label="Cards sorted by " + r["name"].to(str),
            ),
        ),
        *[rx.table.cell(counts[p], text_align="center") for p in PILES],
        rx.table.cell(
            rx.hstack(
                rx.cond(r["revealed_top8"], rx.badge("top 8", color_scheme=ACCENT)),
                rx.cond(r["revealed_top3"], rx.badge("top 3", color_scheme="amber")),
                spacing="1",
            )
        ),
        data_testid="participant",
        data_participant_id=r["id"],
        data_participant_name=r["name"],
        data_step=r["step"],
        data_online=r["online"],
        key=r["id"],
    )


def progress_table(rows: rx.Var) -> rx.Component:
    """The participants table: the live one and the replay's show the very same rows."""
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Name"),
                    rx.table.column_header_cell("Step"),
                    rx.table.column_header_cell("Sorted"),
                    *[rx.table.column_header_cell(PILE_LABELS[p], text_align="center") for p in PILES],
                    rx.table.column_header_cell("Revealed"),
                )
            ),
            rx.table.body(rx.foreach(rows, _progress_row)),
            size="1",
            variant="ghost",
            width="100%",
        ),
        overflow_x="auto",
        width="100%",
    )


def _progress() -> rx.Component:
    return rx.card(
        rx.hstack(rx.icon("users", size=16), rx.text("Participants", weight="bold"), spacing="2"),
        progress_table(live_rows(DashboardState.live)),
        rx.cond(
            live_rows(DashboardState.live).length() == 0,
            rx.text("Nobody has joined yet. Share the code.", color_scheme="gray", size="2", padding="12px"),
        ),
        data_testid="participants",
        width="100%",
    )


def _log_row(e: rx.Var) -> rx.Component:
    """One row of the live log (the facilitator feed's `log`: keyed by the event's seq, `id`)."""
    return rx.table.row(
        rx.table.cell(e["id"], font_family="ui-monospace, monospace"),
        rx.table.cell(e["when"], font_family="ui-monospace, monospace"),
        rx.table.cell(rx.code(e["type"], size="1")),
        rx.table.cell(e["who"]),
        rx.table.cell(rx.text(e["detail"], size="1", color_scheme="gray")),
        data_testid="event-row",
        data_seq=e["id"],
        data_type=e["type"],
        key=e["id"],
    )


def _event_log() -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon("scroll-text", size=16),
            rx.text("Event log", weight="bold"),
            rx.badge("v", live_head(DashboardState.live, DashboardState.version), variant="soft"),
            spacing="2",
            align="center",
        ),
        rx.box(  # a focusable region: the keyboard can scroll it (axe: scrollable-region-focusable)
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[rx.table.column_header_cell(h) for h in ("seq", "time", "type", "who", "detail")]
                    )
                ),
                rx.table.body(rx.foreach(live_list(DashboardState.live, "log"), _log_row)),
                size="1",
                width="100%",
            ),
            overflow_y="auto",
            max_height="360px",
            tab_index=0,
            role="region",
            aria_label="Event log",
        ),
        data_testid="event-log",
        width="100%",
    )


def _reveals() -> rx.Component:
    return rx.card(
        rx.hstack(rx.icon("sparkles", size=16), rx.text("Reveals", weight="bold"), spacing="2"),
        rx.vstack(
            rx.foreach(live_reveals(DashboardState.live), reveal_block),
            spacing="2",
            width="100%",
            padding_top="6px",
        ),
        width="100%",
    )


def _header() -> rx.Component:
    return rx.flex(
        rx.vstack(
            brand(),
            rx.heading(DashboardState.title, size="6"),
            spacing="1",
        ),
        rx.spacer(),
        rx.hstack(
            rx.vstack(
                rx.text("Join with code", size="1", color_scheme="gray"),
                rx.text(
                    DashboardState.session_code,
                    size="6",
                    weight="bold",
                    letter_spacing="0.12em",
                    font_family="ui-monospace, monospace",
                    data_testid="session-code",
                ),
                spacing="0",
            ),
            rx.link(
                rx.button(rx.icon("link"), "Join link", variant="soft"),
                href=DashboardState.join_path,
                is_external=True,
                data_testid="join-link",
            ),
            rx.button(
                rx.icon("eye"),
                "Reveal all",
                on_click=command("reveal_all"),
                disabled=FROZEN,
                data_testid="reveal-all",
            ),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        direction=rx.breakpoints(initial="column", sm="row"),
        gap="3",
        width="100%",
        padding_bottom="12px",
    )


def _ready() -> rx.Component:
    return rx.vstack(
        _header(),
        rx.cond(
            DashboardState.message != "",
            rx.callout(DashboardState.message, icon="info", size="1", data_testid="dashboard-message"),
        ),
        command_outbox(DashboardState, "dashboard", DashboardState.status == "ready"),
        rx.flex(
            _stat("Participants", live_rows(DashboardState.live).length(), "users"),
            _stat("Online", count_where(live_rows(DashboardState.live), "online", "true"), "wifi"),
            _stat("Done", count_where(live_rows(DashboardState.live), "step", 4), "flag"),
            _stat("Events", live_head(DashboardState.live, DashboardState.version), "activity"),
            gap="3",
            wrap="wrap",
            width="100%",
        ),
        workshop_card(),
        _progress(),
        team_panel(),
        rx.grid(
            results_card(),
            rx.vstack(join_card(), _reveals(), spacing="4", width="100%"),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        _event_log(),
        replay_panel(progress_table),
        spacing="4",
        width="100%",
        data_testid="dashboard",
    )


def dashboard_page() -> rx.Component:
    return page_shell(
        rx.match(
            DashboardState.status,
            ("ready", _ready()),
            (
                "forbidden",
                rx.callout(
                    "This dashboard needs the facilitator key: "
                    "open the link you got when creating the session.",
                    icon="lock",
                    color_scheme="red",
                    data_testid="forbidden",
                ),
            ),
            rx.center(rx.spinner(size="3"), padding_top="60px"),
        ),
        max_width="1280px",
    )
