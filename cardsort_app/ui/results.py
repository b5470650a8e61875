"""Group results, live: on the dashboard and on the printable results page `/s/{code}/results`.

Per card, how many participants have it in their top 3, their top 8 and their very-important pile, ranked
by top-3 then top-8 count (domain/results.py); a chart of the leading cards; each participant's top 3
and top 8. Facilitator only: the page loads through DashboardState, which needs the facilitator key.
"""

from __future__ import annotations

import reflex as rx

from cardsort_app.ui.dashboard_state import DashboardState
from cardsort_app.ui.live_view import live_list, live_rows
from cardsort_app.ui.theme import brand, page_shell

TOP3_COLOR = "#ffc53d"
TOP8_COLOR = "#8da4ef"
VERY_COLOR = "#5bb98b"


def _result_row(r: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(r["rank"], font_family="ui-monospace, monospace"),
        rx.table.cell(rx.text(r["name"], weight="medium")),
        rx.table.cell(r["top3"], text_align="center"),
        rx.table.cell(r["top8"], text_align="center"),
        rx.table.cell(r["very_important"], text_align="center"),
        data_testid="result-card",
        data_card_id=r["id"],
        data_top3=r["top3"],
        data_top8=r["top8"],
        data_very_important=r["very_important"],
        key=r["id"],
    )


def results_table() -> rx.Component:
    """`results`: one `result-card` per card with its counts as data attributes."""
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("#"),
                rx.table.column_header_cell("Card"),
                rx.table.column_header_cell("Top 3", text_align="center"),
                rx.table.column_header_cell("Top 8", text_align="center"),
                rx.table.column_header_cell("Very important", text_align="center"),
            )
        ),
        rx.table.body(rx.foreach(DashboardState.results, _result_row)),
        size="1",
        width="100%",
        data_testid="results",
        class_name="results-table",
    )


def results_chart(height: int = 300) -> rx.Component:
    return rx.cond(
        DashboardState.results_chart.length() > 0,
        rx.box(
            rx.recharts.bar_chart(
                rx.recharts.bar(data_key="top3", name="top 3", fill=TOP3_COLOR, is_animation_active=False),
                rx.recharts.bar(data_key="top8", name="top 8", fill=TOP8_COLOR, is_animation_active=False),
                rx.recharts.bar(
                    data_key="very_important",
                    name="very important",
                    fill=VERY_COLOR,
                    is_animation_active=False,
                ),
                rx.recharts.x_axis(data_key="name", interval=0, angle=-30, text_anchor="end", height=80),
                rx.recharts.y_axis(allow_decimals=False),
                rx.recharts.legend(),
                rx.recharts.graphing_tooltip(),
                data=DashboardState.results_chart,
                height=height,
                width="100%",
                margin={"top": 8, "right": 8, "left": 24, "bottom": 0},  # room for the first slanted label
            ),
            role="img",
            aria_label="Bar chart of how many participants chose each leading card",
            width="100%",
        ),
        rx.text("Results appear as participants sort.", color_scheme="gray", size="2", padding="12px"),
    )


def _names(cards: rx.Var) -> rx.Component:
    return rx.text(cards.to(list[str]).join(" · "), size="2")  # separators between names, none after


def _selection_row(s: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(s["name"], weight="medium")),
        rx.table.cell(_names(s["top3"])),
        rx.table.cell(_names(s["top8"]), color_scheme="gray"),
        data_testid="selection",
        data_participant_id=s["id"],
        key=s["id"],
    )


def selections_table() -> rx.Component:
    """Each participant's current top 3 and the rest of their top 8."""
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("Participant"),
                rx.table.column_header_cell("Top 3"),
                rx.table.column_header_cell("Rest of the top 8"),
            )
        ),
        rx.table.body(rx.foreach(live_list(DashboardState.live, "selections"), _selection_row)),
        size="1",
        width="100%",
        data_testid="selections",
        class_name="selections-table",
    )


def results_card() -> rx.Component:
    """The dashboard's live results."""
    return rx.card(
        rx.hstack(
            rx.icon("chart-bar", size=16),
            rx.text("Group results", weight="bold"),
            rx.spacer(),
            rx.link(
                "Results page",
                href="/s/" + DashboardState.session_code + "/results",
                size="2",
                data_testid="results-link",
            ),
            spacing="2",
            align="center",
            width="100%",
        ),
        results_chart(),
        rx.box(  # a focusable region: the keyboard can scroll it
            results_table(),
            overflow_y="auto",
            max_height="360px",
            tab_index=0,
            role="region",
            aria_label="Results per card",
        ),
        width="100%",
    )


def _team_values() -> rx.Component:
    """The team values the group agreed on (final once the facilitator locked the team board)."""
    return rx.cond(
        DashboardState.team_names.length() > 0,
        rx.card(
            rx.heading(
                rx.cond(
                    DashboardState.team["locked"].to(bool), "Our team values", "Team values (not locked yet)"
                ),
                size="4",
            ),
            rx.hstack(
                rx.foreach(
                    DashboardState.team_names,
                    lambda name, i: rx.badge(
                        (i + 1).to_string() + ". " + name,
                        size="3",
                        color_scheme="amber",
                        data_testid="team-value",
                        data_card_id=DashboardState.team["values"].to(list[str])[i],
                        data_rank=i + 1,
                    ),
                ),
                spacing="2",
                wrap="wrap",
                padding_top="6px",
            ),
            width="100%",
            data_testid="team-values-result",
            class_name="print-avoid-break",
        ),
    )


def _results_ready() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            brand(),
            rx.spacer(),
            rx.link("Back to the dashboard", href="/s/" + DashboardState.session_code + "/facilitate"),
            width="100%",
            align="center",
            class_name="no-print",
        ),
        rx.heading("Results — ", DashboardState.title, size="7"),
        rx.text(
            "Session ",
            DashboardState.session_code,
            " · ",
            live_rows(DashboardState.live).length(),
            rx.cond(live_rows(DashboardState.live).length() == 1, " participant", " participants"),
            color_scheme="gray",
        ),
        rx.card(results_chart(340), width="100%", class_name="print-avoid-break"),
        _team_values(),
        rx.card(
            rx.heading("Cards, ranked by top 3 then top 8", size="4"),
            results_table(),
            width="100%",
        ),
        rx.card(
            rx.heading("Each participant's selection", size="4"),
            selections_table(),
            width="100%",
            class_name="print-new-page",
        ),
        spacing="4",
        width="100%",
        class_name="results-page",
    )


def results_page() -> rx.Component:
    return page_shell(
        rx.match(
            DashboardState.status,
            ("ready", _results_ready()),
            (
                "forbidden",
                rx.callout(
                    "The results need the facilitator key: open the dashboard link first.",
                    icon="lock",
                    color_scheme="red",
                    data_testid="forbidden",
                ),
            ),
            ("missing", rx.callout("No session with this code.", icon="search-x", color_scheme="red")),
            rx.center(rx.spinner(size="3"), padding_top="60px"),
        ),
        max_width="1100px",
    )
