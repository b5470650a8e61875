"""The dashboard's workshop controls: pacing, the timer, exports, joining by QR, ending the session."""

from __future__ import annotations

import reflex as rx

from cardsort_app.domain.facilitation import TIMER_PRESETS
from cardsort_app.service.workshop import MAX_TIMER_MINUTES
from cardsort_app.ui.dashboard_state import FROZEN, DashboardState
from cardsort_app.ui.outbox import command, input_value
from cardsort_app.ui.workshop_board import timer_badge

S = DashboardState


def _section(title: str, icon: str, *children: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.icon(icon, size=15), rx.text(title, weight="bold", size="2"), spacing="2", align="center"
        ),
        *children,
        spacing="2",
        width="100%",
    )


def _pacing() -> rx.Component:
    return _section(
        "Pacing",
        "footprints",
        rx.cond(
            S.pacing == "facilitator",
            rx.vstack(
                rx.text("Participants may work up to step ", S.steps_open, ".", size="2"),
                rx.hstack(
                    rx.button(
                        "Open step 2",
                        on_click=command("open_step", 2),
                        disabled=(S.steps_open >= 2) | FROZEN,
                        size="2",
                        data_testid="open-step-2",
                    ),
                    rx.button(
                        "Open step 3",
                        on_click=command("open_step", 3),
                        disabled=(S.steps_open >= 3) | FROZEN,
                        size="2",
                        data_testid="open-step-3",
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
                spacing="2",
            ),
            rx.text("Self-paced: everyone moves on when they are ready.", size="2", color_scheme="gray"),
        ),
    )


def _timer() -> rx.Component:
    return _section(
        "Timer",
        "timer",
        rx.hstack(
            timer_badge(S.timer_ends_at),
            rx.cond(S.timer_ends_at == 0, rx.text("No timer running.", size="2", color_scheme="gray")),
            align="center",
        ),
        rx.hstack(
            *[
                rx.button(
                    f"{m} min",
                    on_click=command("start_timer", m),
                    variant="soft",
                    size="2",
                    disabled=FROZEN,
                    data_testid=f"timer-preset-{m}",
                )
                for m in TIMER_PRESETS
            ],
            spacing="2",
            wrap="wrap",
        ),
        rx.hstack(
            rx.el.label("Minutes", html_for="timer-minutes", class_name="visually-hidden"),
            rx.input(
                id="timer-minutes",
                type="number",
                min=1,
                max=MAX_TIMER_MINUTES,
                value=S.timer_minutes,
                on_change=S.set_timer_minutes,
                width="84px",
                aria_label="Timer minutes",
                data_testid="timer-minutes",
            ),
            rx.button(
                rx.icon("play", size=14),
                "Start",
                on_click=command("start_timer", input_value("timer-minutes")),
                disabled=FROZEN,
                size="2",
                data_testid="timer-start",
            ),
            rx.button(
                "+1 min",
                on_click=command("add_minute"),
                disabled=(S.timer_ends_at == 0) | FROZEN,
                variant="soft",
                size="2",
                data_testid="timer-add-minute",
            ),
            rx.button(
                rx.icon("square", size=14),
                "Stop",
                on_click=command("stop_timer"),
                disabled=(S.timer_ends_at == 0) | FROZEN,
                variant="soft",
                color_scheme="gray",
                size="2",
                data_testid="timer-stop",
            ),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
    )


def _exports() -> rx.Component:
    return _section(
        "Take the results home",
        "download",
        rx.hstack(
            rx.link(
                rx.hstack(rx.icon("file-spreadsheet", size=14), "CSV", spacing="1", align="center"),
                href=S.export_csv_url,
                data_testid="export-csv",
                download=True,
                reload_document=True,  # a file from /api, not a page: never the client-side router
            ),
            rx.link(
                rx.hstack(rx.icon("file-json", size=14), "JSON (whole log)", spacing="1", align="center"),
                href=S.export_json_url,
                data_testid="export-json",
                download=True,
                reload_document=True,
            ),
            rx.link(
                rx.hstack(rx.icon("printer", size=14), "Printable results", spacing="1", align="center"),
                href="/s/" + S.session_code + "/results",
            ),
            spacing="4",
            wrap="wrap",
        ),
    )


def _end() -> rx.Component:
    return _section(
        "End",
        "flag",
        rx.cond(
            S.ended,
            rx.badge("This session has ended", color_scheme="gray", size="2", data_testid="session-ended"),
            rx.cond(
                S.read_only,
                rx.badge("A read-only import", color_scheme="gray", size="2"),
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(
                        rx.button(
                            "End the session",
                            color_scheme="red",
                            variant="soft",
                            size="2",
                            data_testid="end-session",
                        ),
                    ),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title("End the session for everyone?"),
                        rx.alert_dialog.description(
                            "Boards become read-only and show each participant's final selection. "
                            "This cannot be undone.",
                        ),
                        rx.hstack(
                            rx.alert_dialog.cancel(
                                rx.button(
                                    "Keep going",
                                    variant="soft",
                                    color_scheme="gray",
                                    data_testid="confirm-no",
                                )
                            ),
                            rx.alert_dialog.action(
                                rx.button(
                                    "End the session",
                                    color_scheme="red",
                                    on_click=command("end_session"),
                                    data_testid="confirm-yes",
                                )
                            ),
                            spacing="3",
                            justify="end",
                            padding_top="12px",
                        ),
                    ),
                ),
            ),
        ),
    )


def workshop_card() -> rx.Component:
    return rx.card(
        rx.grid(
            _pacing(),
            _timer(),
            _exports(),
            _end(),
            columns=rx.breakpoints(initial="1", sm="2", lg="4"),
            spacing="5",
            width="100%",
        ),
        data_testid="workshop-controls",
        width="100%",
    )


def join_card() -> rx.Component:
    """The join link and its QR code, for phones: camera → name field in one tap."""
    return rx.card(
        rx.flex(
            rx.box(rx.html(S.join_qr), width="148px", height="148px", flex_shrink="0"),
            rx.vstack(
                rx.text("Scan to join, or open", size="2", color_scheme="gray"),
                rx.link(
                    S.join_url,
                    href=S.join_url,
                    is_external=True,
                    size="3",
                    weight="bold",
                    word_break="break-all",
                    data_testid="join-url",
                ),
                rx.text(
                    "Code ",
                    rx.text.span(S.session_code, weight="bold", font_family="ui-monospace, monospace"),
                    size="2",
                ),
                spacing="1",
            ),
            gap="4",
            align="center",
            direction=rx.breakpoints(initial="column", sm="row"),
        ),
        width="100%",
    )
