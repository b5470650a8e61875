"""The board's side of the facilitator's workshop: the countdown, the waiting state, the ended view and
the participant's own summary page (`/s/{code}/summary`, printable)."""

from __future__ import annotations

import reflex as rx

from cardsort_app.ui.board_state import BoardState
from cardsort_app.ui.components import mini_card, team_value_badges
from cardsort_app.ui.theme import brand, page_shell
from cardsort_app.ui.workshop_components import countdown, print_button


def timer_badge(ends_at: rx.Var, testid: str = "timer") -> rx.Component:
    """`timer` with `data-ends-at` (epoch ms, the server's fact) while a countdown is set."""
    return rx.cond(
        ends_at > 0,
        rx.badge(
            rx.icon("timer", size=16),
            countdown(ends_at=ends_at, done_text="Time is up"),
            size="3",
            variant="surface",
            color_scheme="orange",
            radius="full",
            data_testid=testid,
            data_ends_at=ends_at,
            aria_label="Time left",
            font_variant_numeric="tabular-nums",
        ),
    )


def waiting_banner() -> rx.Component:
    return rx.cond(
        BoardState.waiting,
        rx.callout(
            "Well done — you're ahead. The facilitator will open step "
            + (BoardState.step + 1).to_string()
            + " for everyone; your cards stay as they are until then.",
            icon="hourglass",
            color_scheme="blue",
            data_testid="waiting-for-facilitator",
            width="100%",
        ),
    )


def released_banner() -> rx.Component:
    return rx.cond(
        BoardState.released,
        rx.callout(
            "Step " + (BoardState.step + 1).to_string() + " is open: press Complete step to go on.",
            icon="circle-arrow-right",
            color_scheme="green",
            data_testid="step-opened",
            width="100%",
        ),
    )


def _selection(title: str, cards: rx.Var, testid: str) -> rx.Component:
    return rx.box(
        rx.text(title, weight="bold", size="2"),
        rx.cond(
            cards.length() > 0,
            rx.flex(rx.foreach(cards, mini_card), wrap="wrap", gap="6px", padding_top="6px"),
            rx.text("None chosen", color_scheme="gray", size="2"),  # not a heading over nothing
        ),
        data_testid=testid,
        width="100%",
    )


def _team_values() -> rx.Component:
    """The values the group agreed on, once the facilitator locked the team board."""
    return rx.cond(
        BoardState.team_values.length() > 0,
        rx.box(
            rx.text("Our team values", weight="bold", size="2"),
            team_value_badges(BoardState.team_values, padding_top="6px"),
            data_testid="summary-team-values",
            width="100%",
        ),
    )


def final_selection() -> rx.Component:
    return rx.vstack(
        _selection("My top 3", BoardState.piles["top3"], "summary-top3"),
        _selection("The rest of my top 8", BoardState.piles["top8"], "summary-top8"),
        _selection("Very important", BoardState.piles["very-important"], "summary-very-important"),
        _team_values(),
        spacing="3",
        width="100%",
    )


def ended_panel() -> rx.Component:
    """Shown instead of the piles once the facilitator ended the session: read-only."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon("flag", size=18),
                rx.heading("The session has ended", size="4"),
                align="center",
                spacing="2",
            ),
            rx.text("Thank you! Here is your final selection.", color_scheme="gray", size="2"),
            final_selection(),
            rx.link(
                rx.button(rx.icon("file-text"), "Open my summary", variant="soft"),
                href="/s/" + BoardState.session_code + "/summary",
                data_testid="summary-link",
            ),
            spacing="3",
            width="100%",
        ),
        data_testid="session-ended",
        width="100%",
    )


def summary_page() -> rx.Component:
    """`/s/{code}/summary`: the participant's own final selection, printable."""
    return page_shell(
        rx.hstack(brand(), rx.spacer(), rx.text(BoardState.title, color_scheme="gray"), width="100%"),
        rx.match(
            BoardState.status,
            (
                "ready",
                rx.card(
                    rx.vstack(
                        rx.heading("My values — ", BoardState.my_name, size="6"),
                        rx.text("Session ", BoardState.session_code, color_scheme="gray", size="2"),
                        final_selection(),
                        print_button("Print", class_name="no-print print-button"),
                        spacing="3",
                        width="100%",
                    ),
                    data_testid="summary",
                    width="100%",
                    margin_top="12px",
                ),
            ),
            ("missing", rx.callout("No session with this code.", icon="search-x", color_scheme="red")),
            ("join", rx.callout("Join the session first to see your summary.", icon="info")),
            rx.center(rx.spinner(size="3"), padding_top="60px"),
        ),
        max_width="820px",
    )
