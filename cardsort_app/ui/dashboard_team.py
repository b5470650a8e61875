"""The dashboard's team-board panel: open and lock the board, follow the team values live."""

from __future__ import annotations

import reflex as rx

from cardsort_app.ui.components import team_value_badges
from cardsort_app.ui.dashboard_state import FROZEN, DashboardState
from cardsort_app.ui.outbox import command


def team_panel() -> rx.Component:
    opened = DashboardState.team["open"].to(bool)
    locked = DashboardState.team["locked"].to(bool)
    return rx.card(
        rx.hstack(
            rx.icon("handshake", size=16),
            rx.text("Team values", weight="bold"),
            rx.cond(
                locked,
                rx.badge("locked", color_scheme="green"),
                rx.cond(
                    opened, rx.badge("open", color_scheme="amber"), rx.badge("not open", color_scheme="gray")
                ),
            ),
            rx.spacer(),
            rx.link(
                rx.button(rx.icon("external-link", size=14), "Team board", variant="soft", size="2"),
                href="/s/" + DashboardState.session_code + "/team",
                is_external=True,
                data_testid="team-link",
            ),
            rx.button(
                "Open team board",
                on_click=command("team_open"),
                disabled=opened | FROZEN,
                size="2",
                data_testid="team-open",
            ),
            rx.button(
                "Lock team values",
                on_click=command("team_lock"),
                disabled=~opened | locked | FROZEN,
                color_scheme="green",
                size="2",
                data_testid="team-lock",
            ),
            align="center",
            spacing="2",
            wrap="wrap",
            width="100%",
        ),
        rx.cond(
            DashboardState.team_names.length() > 0,
            team_value_badges(
                DashboardState.team_names, padding_top="8px", data_testid="team-values-summary"
            ),
            rx.text(
                "Once participants reveal their top 3, open the team board to agree on shared values.",
                size="2",
                color_scheme="gray",
                padding_top="6px",
            ),
        ),
        width="100%",
    )
