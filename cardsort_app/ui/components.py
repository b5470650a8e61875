"""Small pieces shared by the board and the dashboard."""

from __future__ import annotations

import reflex as rx

from cardsort_app.ui.theme import ACCENT


def step_label(step: rx.Var) -> rx.Component:
    return rx.cond(step >= 4, "Done", "Step " + step.to_string())


def step_badge(step: rx.Var) -> rx.Component:
    return rx.badge(
        step_label(step),
        color_scheme=rx.match(step, (1, "gray"), (2, "blue"), (3, "violet"), (4, "green"), "gray"),
        variant="soft",
        radius="full",
    )


def online_dot(online: rx.Var) -> rx.Component:
    return rx.box(
        width="9px",
        height="9px",
        border_radius="50%",
        background=rx.cond(online == "true", "var(--green-9)", "var(--gray-7)"),
        title=rx.cond(online == "true", "online", "offline"),
        flex_shrink="0",
    )


def participant_row(p: rx.Var, me: rx.Var | str = "") -> rx.Component:
    """One `participant` hook: id, name, step (1-4) and online state as data attributes."""
    return rx.hstack(
        online_dot(p["online"]),
        rx.avatar(fallback=p["name"].to(str)[0:1], size="1", radius="full", color_scheme=ACCENT),
        rx.text(
            p["name"],
            rx.cond(p["id"] == me, rx.text.span(" (you)", color_scheme="gray"), rx.fragment()),
            size="2",
            weight="medium",
            flex="1",  # no leading trim: with overflow hidden it cut the names' ascenders and descenders
            overflow="hidden",
            text_overflow="ellipsis",
            white_space="nowrap",
        ),
        step_badge(p["step"].to(int)),
        align="center",
        spacing="2",
        width="100%",
        padding_y="4px",
        data_testid="participant",
        data_participant_id=p["id"],
        data_participant_name=p["name"],
        data_step=p["step"],
        data_online=p["online"],
        key=p["id"],
    )


def mini_card(c: rx.Var) -> rx.Component:
    return rx.box(
        rx.text(c["name"], size="1", weight="medium"),
        data_testid="card",
        data_card_id=c["id"],
        title=c["meaning"],
        padding="3px 8px",
        border_radius="6px",
        background=rx.color(ACCENT, 3),
        border=f"1px solid {rx.color(ACCENT, 6)}",
        key=c["id"],
    )


def reveal_block(r: rx.Var) -> rx.Component:
    """One `reveal` hook: a participant's revealed top 8 or top 3, as `card` elements."""
    return rx.box(
        rx.hstack(
            rx.text(r["participant_name"], weight="bold", size="2"),
            rx.badge(
                r["label"],
                variant="surface",
                color_scheme=rx.cond(r["reveal_type"] == "top3", "amber", ACCENT),
            ),
            spacing="2",
            align="center",
        ),
        rx.flex(
            rx.foreach(r["cards"].to(list[dict[str, str]]), mini_card),
            wrap="wrap",
            gap="6px",
            padding_top="6px",
        ),
        data_testid="reveal",
        data_participant_name=r["participant_name"],
        data_reveal_type=r["reveal_type"],
        padding="10px",
        border_radius="10px",
        background="var(--gray-2)",
        border="1px solid var(--gray-5)",
        width="100%",
        key=r["participant_id"].to(str) + r["reveal_type"].to(str),
    )


def team_value_badges(names: rx.Var, **props) -> rx.Component:
    """The team values in their order: "1. Honesty", "2. Fun", …"""
    return rx.flex(
        rx.foreach(
            names,
            lambda name, i: rx.badge((i + 1).to_string() + ". " + name, size="2", color_scheme="amber"),
        ),
        wrap="wrap",
        gap="6px",
        **props,
    )
