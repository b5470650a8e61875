"""Shared look: one accent, calm surfaces, readable type on phones."""

import reflex as rx

ACCENT = "indigo"
PAGE_BG = "linear-gradient(180deg, var(--indigo-2) 0%, var(--gray-1) 320px)"


def page_shell(*children: rx.Component, max_width: str = "1200px") -> rx.Component:
    return rx.box(
        rx.box(*children, max_width=max_width, margin="0 auto", padding=["12px", "16px", "24px"]),
        background=PAGE_BG,
        min_height="100vh",
    )


def brand() -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon("layers", size=22, color=rx.color(ACCENT, 9)),
            rx.text("Cardsort", weight="bold", size="5"),
            align="center",
            spacing="2",
        ),
        href="/",
        underline="none",
        color="inherit",
    )


def error_callout(message: rx.Var, testid: str = "form-error") -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", size="1", data_testid=testid),
    )
