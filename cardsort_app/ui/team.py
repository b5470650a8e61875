"""`/s/{code}/team`: the team board — candidates (everyone's revealed top 3) and the ordered team values."""

from __future__ import annotations

import reflex as rx

from cardsort_app.domain.team import TEAM_CAP
from cardsort_app.ui.dnd import team_card, team_dnd_board, team_pile_drop
from cardsort_app.ui.outbox import command, command_outbox, command_taking
from cardsort_app.ui.team_state import TeamState
from cardsort_app.ui.theme import brand, page_shell

TONE = {"candidates": "blue", "team-values": "amber"}


def _menu(c: rx.Var, pile: str) -> rx.Component:
    def item(label: str, action: str, enabled: rx.Var | bool = True) -> rx.Component:
        return rx.cond(
            enabled,
            rx.menu.item(
                label,
                on_click=command("menu", c["id"].to(str), action, c["index"].to(int), TeamState.version),
                data_testid=action,
            ),
        )

    if pile == "candidates":
        # Offered even when full: the refusal explains the cap, the same way in every view.
        items = [item("Move to the team values", "move-to-team-values")]
    else:
        items = [
            item("Move up", "move-up", c["index"].to(int) > 0),
            item("Move down", "move-down", c["index"].to(int) < TeamState.values.length() - 1),
            item("Move back to the candidates", "move-to-candidates"),
        ]
    return rx.cond(
        TeamState.editable,
        rx.menu.root(
            rx.menu.trigger(
                rx.icon_button(
                    rx.icon("ellipsis", size=16),
                    variant="ghost",
                    size="1",
                    aria_label="Move card",
                    data_testid="card-menu-" + c["id"].to(str),
                )
            ),
            rx.menu.content(*items),
        ),
    )


def _card(c: rx.Var, pile: str) -> rx.Component:
    detail = (
        rx.text("chosen by ", c["count"], size="1", color_scheme="gray")
        if pile == "candidates"
        else rx.cond(c["by"] != "", rx.text("placed by ", c["by"], size="1", color_scheme="gray"))
    )
    rank = (
        rx.badge((c["index"].to(int) + 1).to_string(), color_scheme="amber", radius="full")
        if pile == "team-values"
        else rx.fragment()
    )
    return team_card(
        rx.hstack(
            rank,
            rx.box(
                rx.text(c["name"], weight="bold", size="2"),
                rx.text(c["meaning"], size="1", color_scheme="gray", line_height="1.3"),
                detail,
                flex="1",
                min_width="0",
            ),
            _menu(c, pile),
            align="start",
            spacing="2",
            width="100%",
        ),
        card_id=c["id"],
        pile=pile,
        index=c["index"],
        disabled=~TeamState.editable,
        data_testid="card",
        data_card_id=c["id"],
        data_moved_by=c["by"],
        key=c["id"],
        style={
            "background": "var(--color-panel-solid)",
            "border": "1px solid var(--gray-6)",
            "borderRadius": "10px",
            "padding": "8px 10px",
            "userSelect": "none",
        },
    )


def _pile(pile: str, title: str, rows: rx.Var, badge: rx.Component, empty: rx.Var | str) -> rx.Component:
    """`empty` says why the pile is empty, and what fills it."""
    tone = TONE[pile]
    return team_pile_drop(
        rx.hstack(rx.text(title, weight="bold", size="3"), badge, justify="between", width="100%"),
        rx.cond(
            rows.length() == 0,
            rx.text(empty, size="2", color_scheme="gray", padding_top="8px", data_testid="pile-empty"),
        ),
        rx.vstack(rx.foreach(rows, lambda c: _card(c, pile)), spacing="2", width="100%", padding_top="8px"),
        pile=pile,
        disabled=~TeamState.editable,
        data_testid="pile",
        data_pile=pile,
        style={
            "background": f"var(--{tone}-2)",
            "border": f"1.5px dashed var(--{tone}-7)",
            "borderRadius": "14px",
            "padding": "12px",
            "minHeight": "240px",
            "width": "100%",
        },
    )


def _status_line() -> rx.Component:
    return rx.hstack(
        rx.cond(
            TeamState.ended,
            rx.badge("The session has ended: these are the team values", color_scheme="gray", size="2"),
            rx.match(
                TeamState.board_open.to_string() + TeamState.locked.to_string(),
                ("truetrue", rx.badge("Locked: these are the team values", color_scheme="green", size="2")),
                ("truefalse", rx.badge("Open: everyone can move cards", color_scheme="amber", size="2")),
                rx.badge("Not open yet: the facilitator opens the team board", color_scheme="gray", size="2"),
            ),
        ),
        rx.cond(
            TeamState.activity != "",
            rx.text(TeamState.activity, size="2", color_scheme="gray", data_testid="team-last-move"),
        ),
        spacing="3",
        align="center",
        wrap="wrap",
    )


def _notice() -> rx.Component:
    return rx.cond(
        TeamState.notice != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("refresh-ccw")),
            rx.callout.text(TeamState.notice),
            color_scheme=rx.cond(TeamState.notice_kind == "refused", "red", "amber"),
            on_click=TeamState.dismiss_notice,
            cursor="pointer",
            data_testid="conflict-notice",  # DESIGN §5b: a refused or lost team move
            width="100%",
        ),
    )


def _board() -> rx.Component:
    return rx.vstack(
        rx.heading("Our team values", size="6"),
        rx.text(
            f"Agree on up to {TEAM_CAP} shared values from everyone's revealed top 3. "
            "Drag a card (or use its ⋯ menu) into the team values, and drag to reorder.",
            size="2",
            color_scheme="gray",
        ),
        _status_line(),
        _notice(),
        command_outbox(TeamState, "team", TeamState.status == "ready"),
        team_dnd_board(
            rx.grid(
                _pile(
                    "candidates",
                    "Candidates",
                    TeamState.candidates,
                    rx.badge(TeamState.candidates.length(), color_scheme="blue", radius="full"),
                    rx.cond(
                        TeamState.values.length() == 0,
                        "No top 3 revealed yet: cards appear here as people finish step 3 and reveal "
                        "their top 3.",
                        "Every revealed card is in the team values.",
                    ),
                ),
                _pile(
                    "team-values",
                    "Team values",
                    TeamState.values,
                    rx.badge(
                        TeamState.values.length().to_string() + f" / {TEAM_CAP}",
                        color_scheme="amber",
                        radius="full",
                    ),
                    rx.cond(
                        TeamState.locked | TeamState.ended,
                        "No team values were agreed.",
                        "None agreed yet: drag a candidate here, or use its ⋯ menu.",
                    ),
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            version=TeamState.version,
            on_drop=command_taking("drop"),
            style={"width": "100%"},
        ),
        spacing="3",
        width="100%",
        data_testid="team-board",
        data_open=TeamState.board_open.to_string(),
        data_locked=TeamState.locked.to_string(),
        data_version=TeamState.version,
    )


def _header() -> rx.Component:
    return rx.hstack(
        brand(),
        rx.spacer(),
        rx.text(TeamState.title, size="2", color_scheme="gray"),
        rx.cond(TeamState.my_name != "", rx.badge(TeamState.my_name, variant="soft", size="2")),
        rx.badge(TeamState.session_code, variant="outline", size="2", font_family="ui-monospace, monospace"),
        align="center",
        spacing="3",
        width="100%",
        padding_bottom="8px",
    )


def team_page() -> rx.Component:
    return page_shell(
        _header(),
        rx.match(
            TeamState.status,
            ("ready", _board()),
            (
                "join",
                rx.center(
                    rx.callout(
                        rx.text(
                            "Join the session to work on the team board: ",
                            rx.link("join " + TeamState.session_code, href="/s/" + TeamState.session_code),
                        ),
                        icon="log-in",
                        data_testid="team-join-first",
                    ),
                    padding_top="40px",
                ),
            ),
            (
                "missing",
                rx.center(
                    rx.callout(
                        "No session with code " + TeamState.session_code, icon="search-x", color_scheme="red"
                    ),
                    padding_top="40px",
                ),
            ),
            rx.center(rx.spinner(size="3"), padding_top="60px"),
        ),
        max_width="1000px",
    )
