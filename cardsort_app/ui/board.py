"""`/s/{code}`: the participant's board — three steps, six piles, the group's progress beside it."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_components_core.core.banner import connection_errors_count

from cardsort_app.domain.rules import ALLOWED_PILES, PILE_LABELS
from cardsort_app.domain.state import PILES
from cardsort_app.ui.board_state import BoardState
from cardsort_app.ui.components import participant_row, reveal_block, step_badge
from cardsort_app.ui.dnd import dnd_board, draggable_card, droppable_pile
from cardsort_app.ui.focus import focus_toggle, focus_view
from cardsort_app.ui.join import join_request
from cardsort_app.ui.live_view import live_reveals, live_rows
from cardsort_app.ui.offline import call, handler, offline_queue, view
from cardsort_app.ui.theme import brand, error_callout, page_shell
from cardsort_app.ui.workshop_board import ended_panel, released_banner, timer_badge, waiting_banner

STEP_TITLES = {
    1: "Step 1 · Sort every card",
    2: "Step 2 · Pick your top 8",
    3: "Step 3 · Pick your top 3",
    4: "Done",
}
STEP_HELP = {
    1: "Put each card in Very important, Important or Not important: tap a pile on the card, drag it, "
    "or use its ⋯ menu.",
    2: "Move the 8 values that matter most to you into Top 8.",
    3: "From your top 8, move the 3 that matter most into Top 3.",
    4: "You have finished. Reveal your selection to the group, or go back a step to change it.",
}

# The participant's own board as they should see it now: confirmed state + their queued changes.
VIEW_READY = view("ready", bool)
VIEW_STEP = view("step", int)
VIEW_PILES = view("piles", dict[str, list[dict[str, str]]])
VIEW_ALLOWED = view("allowed", list[str])
VIEW_SHOWN = view("shown", list[str])
VIEW_COUNTS = view("counts", dict[str, int])
VIEW_NOTICE = view("notice", dict[str, str])
#: What the browser's queue checks locally before showing a change (the server checks again).
QUEUE_RULES: dict[str, Any] = {
    "allowed": {str(step): [str(p) for p in PILES if p in piles] for step, piles in ALLOWED_PILES.items()},
    "labels": {str(p): label for p, label in PILE_LABELS.items()},
}

PILE_TONE = {
    "unsorted": "gray",
    "very-important": "green",
    "important": "blue",
    "not-important": "gray",
    "top8": "violet",
    "top3": "amber",
}

#: What an empty pile says: (the step that fills it, the hint in that step, the hint before it; after it,
#: nothing). A first-time participant sees where cards go, and that the top 8 and top 3 come later.
EMPTY_HINTS = {
    "unsorted": (1, "All sorted.", ""),
    "very-important": (1, "Drop cards here.", ""),
    "important": (1, "Drop cards here.", ""),
    "not-important": (1, "Drop cards here.", ""),
    "top8": (2, "Move your 8 most important cards here.", "Step 2: your 8 most important cards."),
    "top3": (3, "Move the 3 that matter most here, from your top 8.", "Step 3: your top 3, from your top 8."),
}


def _empty_hint(pile: str) -> rx.Component:
    step, during, before = EMPTY_HINTS[pile]
    now = VIEW_STEP
    hint = rx.cond(now == step, during, rx.cond(now < step, before, ""))
    return rx.cond(
        (VIEW_COUNTS[pile] == 0) & (hint != ""),
        rx.text(hint, size="1", color_scheme="gray", data_testid="pile-empty"),
    )


def _menu_item(card_id: rx.Var, from_pile: str, to_pile: str) -> rx.Component:
    return rx.cond(
        VIEW_ALLOWED.contains(to_pile) & VIEW_ALLOWED.contains(from_pile),
        rx.menu.item(
            f"Move to {PILE_LABELS[to_pile]}",
            on_click=call("moveCard", card_id, from_pile, to_pile),
            data_testid=f"move-to-{to_pile}",
        ),
    )


#: One-tap moves onward from each pile (the step's usual next move): on a phone a tap beats dragging a
#: card past a long pile.
QUICK_MOVES = {
    "unsorted": ("very-important", "important", "not-important"),
    "very-important": ("top8",),
    "important": ("top8",),
    "not-important": ("top8",),
    "top8": ("top3",),
}
QUICK_LABELS = {  # short, so a card's buttons fit on one line; the full pile name is the tooltip
    "very-important": "Very",
    "important": "Important",
    "not-important": "Not",
    "top8": "Add to top 8",
    "top3": "Add to top 3",
}


def _quick_moves(card_id: rx.Var, pile: str) -> rx.Component:
    targets = QUICK_MOVES.get(pile, ())
    if not targets:
        return rx.fragment()
    # Only moves the viewed step allows: a step-1 card sorted into a pile has no "Add to top 8" yet.
    shown = VIEW_ALLOWED.contains(pile)
    for target in targets:
        shown = shown & VIEW_ALLOWED.contains(target)
    return rx.cond(
        shown,
        rx.flex(
            *[
                rx.button(
                    QUICK_LABELS[target],
                    on_click=call("moveCard", card_id, pile, target),
                    size="1",
                    variant="soft",
                    color_scheme=PILE_TONE[target],
                    high_contrast=True,  # small text on a tinted button: keep it at 4.5:1
                    title=f"Move to {PILE_LABELS[target]}",
                    aria_label=f"Move to {PILE_LABELS[target]}",
                    data_testid=f"quick-{target}",
                )
                for target in targets
            ],
            gap="6px",
            wrap="wrap",
            padding_top="6px",
        ),
    )


def _card(c: rx.Var, pile: str) -> rx.Component:
    movable = VIEW_ALLOWED.contains(pile)
    return draggable_card(
        rx.hstack(
            rx.box(
                rx.text(c["name"], weight="bold", size="2"),
                rx.text(c["meaning"], size="1", color_scheme="gray", line_height="1.3"),
                flex="1",
                min_width="0",
            ),
            rx.menu.root(
                rx.menu.trigger(
                    rx.icon_button(
                        rx.icon("ellipsis", size=16),
                        variant="ghost",
                        size="1",
                        aria_label="Move card",
                        data_testid="card-menu-" + c["id"],
                    ),
                ),
                rx.menu.content(*[_menu_item(c["id"], pile, p) for p in PILES if p != pile]),
            ),
            align="start",
            spacing="2",
            width="100%",
        ),
        _quick_moves(c["id"], pile),
        card_id=c["id"],
        pile=pile,
        disabled=~movable,
        data_testid="card",
        data_card_id=c["id"],
        key=c["id"],
        style={
            "background": "var(--color-panel-solid)",
            "border": "1px solid var(--gray-6)",
            "borderRadius": "10px",
            "padding": "8px 10px",
            "userSelect": "none",
        },
    )


def _pile(pile: str, min_height: str = "96px") -> rx.Component:
    active = VIEW_ALLOWED.contains(pile)
    tone = PILE_TONE[pile]
    return droppable_pile(
        rx.hstack(
            rx.text(PILE_LABELS[pile], weight="bold", size="2"),
            rx.badge(VIEW_COUNTS[pile], color_scheme=tone, variant="soft", radius="full"),
            justify="between",
            align="center",
            width="100%",
            padding_bottom="6px",
        ),
        _empty_hint(pile),
        rx.grid(
            rx.foreach(VIEW_PILES[pile], lambda c: _card(c, pile)),
            grid_template_columns="repeat(auto-fill, minmax(200px, 1fr))",
            gap="8px",
            width="100%",
        ),
        pile=pile,
        disabled=~active,
        data_testid="pile",
        data_pile=pile,
        style={
            "background": rx.cond(active, f"var(--{tone}-2)", "var(--gray-2)"),
            "border": rx.cond(active, f"1.5px dashed var(--{tone}-7)", "1px solid var(--gray-4)"),
            "borderRadius": "14px",
            "padding": "10px",
            "minHeight": min_height,
            "opacity": rx.cond(active, "1", "0.75"),
            "width": "100%",
        },
        # On a phone only the piles of the current step are shown: less scrolling between drop targets.
        class_name=rx.cond(VIEW_SHOWN.contains(pile), "pile-active", "pile-idle"),
    )


def _step_bar() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.box(
                rx.hstack(
                    rx.heading(
                        rx.match(VIEW_STEP, *STEP_TITLES.items(), ""), size="5", data_testid="step-title"
                    ),
                    step_badge(VIEW_STEP),
                    timer_badge(BoardState.timer_ends_at),
                    align="center",
                    spacing="3",
                    wrap="wrap",
                ),
                rx.text(rx.match(VIEW_STEP, *STEP_HELP.items(), ""), color_scheme="gray", size="2"),
                flex="1",
            ),
            rx.hstack(
                focus_toggle(BoardState),
                rx.button(
                    rx.icon("undo-2"),
                    "Back",
                    on_click=call("backStep"),
                    variant="soft",
                    color_scheme="gray",
                    disabled=VIEW_STEP <= 1,
                    data_testid="back-step",
                ),
                rx.cond(
                    VIEW_STEP >= 3,
                    rx.button(
                        rx.cond(BoardState.selection_revealed, rx.icon("check-check"), rx.icon("eye")),
                        BoardState.reveal_label,
                        on_click=call("revealSelection"),
                        variant="outline",
                        data_testid="reveal-selection",
                    ),
                ),
                rx.button(
                    rx.icon("check"),
                    rx.cond(VIEW_STEP >= 3, "Finish", "Complete step"),
                    on_click=call("completeStep"),
                    disabled=VIEW_STEP >= 4,
                    data_testid="complete-step",
                ),
                spacing="2",
                wrap="wrap",
            ),
            direction=rx.breakpoints(initial="column", sm="row"),
            gap="3",
            align=rx.breakpoints(initial="stretch", sm="center"),
        ),
        width="100%",
    )


def _notice() -> rx.Component:
    """The server's notice (a refused reveal ...) and the queue's (a refused or rolled-back change)."""
    queued = rx.cond(
        VIEW_NOTICE,
        rx.callout.root(
            rx.callout.icon(rx.icon("refresh-ccw")),
            rx.callout.text(VIEW_NOTICE["message"]),
            color_scheme=rx.cond(VIEW_NOTICE["kind"] == "conflict", "amber", "red"),
            on_click=call("dismissNotice"),
            cursor="pointer",
            data_testid=rx.cond(VIEW_NOTICE["kind"] == "conflict", "conflict-notice", "refused-notice"),
            width="100%",
        ),
    )
    server = rx.cond(
        BoardState.notice != "",
        rx.callout.root(
            rx.callout.icon(rx.icon(rx.cond(BoardState.notice_kind == "conflict", "refresh-ccw", "info"))),
            rx.callout.text(BoardState.notice),
            color_scheme=rx.cond(BoardState.notice_kind == "conflict", "amber", "red"),
            on_click=BoardState.dismiss_notice,
            cursor="pointer",
            data_testid=rx.cond(BoardState.notice_kind == "conflict", "conflict-notice", "refused-notice"),
            width="100%",
        ),
    )
    return rx.fragment(queued, server)


def _piles() -> rx.Component:
    return dnd_board(
        rx.vstack(
            _pile("unsorted", "72px"),
            rx.grid(
                _pile("very-important"),
                _pile("important"),
                _pile("not-important"),
                columns=rx.breakpoints(initial="1", sm="3"),
                spacing="3",
                width="100%",
            ),
            rx.grid(
                _pile("top8", "120px"),
                _pile("top3", "120px"),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        on_drop=handler("dropCard"),
        style={"width": "100%"},
    )


def participants_panel(rows: rx.Var, me: rx.Var | str = "") -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon("users", size=16),
            rx.text("Participants", weight="bold", size="2"),
            rx.badge(rows.length(), variant="soft", radius="full"),
            align="center",
            spacing="2",
            padding_bottom="6px",
        ),
        rx.vstack(rx.foreach(rows, lambda p: participant_row(p, me)), spacing="1", width="100%"),
        data_testid="participants",
        width="100%",
    )


def _reveals() -> rx.Component:
    reveals = live_reveals(BoardState.live)
    return rx.cond(
        reveals.length() > 0,
        rx.card(
            rx.hstack(
                rx.icon("sparkles", size=16), rx.text("Revealed", weight="bold", size="2"), spacing="2"
            ),
            rx.vstack(rx.foreach(reveals, reveal_block), spacing="2", width="100%", padding_top="6px"),
            width="100%",
        ),
    )


def _header() -> rx.Component:
    return rx.hstack(
        brand(),
        rx.spacer(),
        rx.text(BoardState.title, size="2", color_scheme="gray", display=["none", "none", "block"]),
        rx.badge(
            BoardState.session_code,
            variant="outline",
            size="2",
            font_family="ui-monospace, monospace",
            data_testid="board-code",
        ),
        rx.cond(
            BoardState.team_open & (BoardState.status == "ready"),
            rx.link(
                rx.button(rx.icon("handshake", size=14), "Team values", variant="soft", size="2"),
                href="/s/" + BoardState.session_code + "/team",
                data_testid="team-board-link",
            ),
        ),
        rx.cond(
            BoardState.status == "ready",
            rx.button(
                rx.icon("log-out", size=14),
                "Leave",
                variant="ghost",
                color_scheme="gray",
                size="2",
                on_click=call("leaveSession"),  # through the change queue: never lost
                data_testid="leave-session",
            ),
        ),
        rx.cond(
            BoardState.status == "ready",
            rx.button(
                rx.icon("user-x", size=14),
                rx.text.span("Leave and erase my name", display=["none", "inline"]),
                rx.text.span("Erase me", display=["inline", "none"]),
                variant="ghost",
                color_scheme="red",
                size="2",
                on_click=call("eraseMe"),
                data_testid="erase-me",
            ),
        ),
        align="center",
        spacing="3",
        wrap="wrap",
        width="100%",
        padding_bottom="8px",
    )


def _board() -> rx.Component:
    return rx.box(
        rx.grid(
            rx.cond(
                BoardState.ended,
                rx.vstack(ended_panel(), _notice(), spacing="3", width="100%"),
                rx.vstack(
                    _step_bar(),
                    waiting_banner(),
                    rx.cond(BoardState.step == VIEW_STEP, released_banner()),  # no step change queued
                    _notice(),
                    rx.cond(BoardState.focus & (BoardState.step == 1), focus_view(BoardState), _piles()),
                    spacing="3",
                    width="100%",
                ),
            ),
            rx.vstack(
                participants_panel(live_rows(BoardState.live), BoardState.me),
                _reveals(),
                spacing="3",
                width="100%",
            ),
            columns=rx.breakpoints(initial="1", md="minmax(0, 3fr) minmax(240px, 1fr)"),
            spacing="4",
            width="100%",
        ),
        data_testid="board",
        data_step=VIEW_STEP,
        data_worker=BoardState.worker,
        width="100%",
    )


def _join_form() -> rx.Component:
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Join ", BoardState.session_code, size="5"),
                    rx.text("Choose the name the group will see.", color_scheme="gray", size="2"),
                    rx.input(
                        placeholder="Your name",
                        value=BoardState.join_name,
                        on_change=BoardState.set_join_name,
                        max_length=40,
                        size="3",
                        width="100%",
                        id="board-join-name",
                        data_testid="join-name",
                    ),
                    rx.button("Join", type="submit", size="3", width="100%", data_testid="join-submit"),
                    error_callout(BoardState.join_error, "join-error"),
                    spacing="3",
                    width="100%",
                ),
                on_submit=BoardState.join(join_request("board-join-name", page_code=BoardState.session_code)),
                reset_on_submit=False,
            ),
            width="100%",
            max_width="420px",
        ),
        padding_top="40px",
    )


def _missing() -> rx.Component:
    return rx.center(
        rx.callout(
            "No session with code " + BoardState.session_code + ". Check the code with your facilitator.",
            icon="search-x",
            color_scheme="red",
            data_testid="session-missing",
        ),
        padding_top="40px",
    )


def _queue() -> rx.Component:
    return offline_queue(
        code=BoardState.session_code,
        ready=BoardState.status == "ready",
        piles=BoardState.piles,
        step=BoardState.step,
        deck_size=BoardState.deck_size,
        rules=QUEUE_RULES,
        acks=BoardState.acks,
        waiting=BoardState.waiting,
        left=BoardState.status == "left",
        socket_errors=connection_errors_count.to(int),
        on_send=BoardState.send_changes,
    )


def board_page() -> rx.Component:
    return page_shell(
        _header(),
        _queue(),
        rx.match(
            BoardState.status,
            ("ready", rx.cond(VIEW_READY, _board(), rx.center(rx.spinner(size="3"), padding_top="60px"))),
            ("join", _join_form()),
            ("missing", _missing()),
            ("left", rx.center(rx.text("You left the session."), padding_top="40px")),
            rx.center(rx.spinner(size="3"), padding_top="60px"),
        ),
    )
