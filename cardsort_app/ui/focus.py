"""Focus sorting for step 1, the classic card-sort flow: one card at a time, large, three pile buttons
(keys 1 / 2 / 3), an undo of the last move (U, Backspace or Ctrl+Z), a progress count, and a switch back
to the full board. Made for one thumb on a phone: the buttons sit at the bottom, full width.

Every focus move goes through the board's change queue in the browser (cardsort_offline.jsx: `focusSort`,
`focusUndo`, `focusKey`), like the board's own moves: it shows at once, survives a dead socket, a reload or
an outage, and is sent until the server acknowledges it (`BoardState.send_changes` proves the identity and
lets the rules decide; a refusal rolls back with a notice). The card in focus is the first unsorted card
of the queue's view, so the next card shows at once even offline.
"""

from __future__ import annotations

import reflex as rx

from cardsort_app.domain.rules import PILE_LABELS
from cardsort_app.ui.offline import call, handler, view
from cardsort_app.ui.workshop_components import key_shortcuts

#: The three piles of step 1, by their keyboard shortcut (the same map as FOCUS_KEYS in the queue).
FOCUS_PILES = {"1": "very-important", "2": "important", "3": "not-important"}
UNDO_KEYS = ("u", "U", "Backspace", "undo")

# The focus part of the queue's view (computeView in cardsort_offline.jsx).
FOCUS_CARD = view("focus.card", dict[str, str])
FOCUS_HAS_CARD = view("focus.hasCard", bool)
FOCUS_SORTED = view("focus.sorted", int)
FOCUS_UNDOS = view("focus.undos", int)


class FocusMode(rx.State, mixin=True):
    focus: bool = False

    @rx.event
    def toggle_focus(self) -> None:
        self.focus = not self.focus


# --- the view --------------------------------------------------------------------------------------------
_TONE = {"very-important": "green", "important": "blue", "not-important": "gray"}


def focus_toggle(state: type[rx.State]) -> rx.Component:
    return rx.cond(
        state.step == 1,
        rx.button(
            rx.icon(rx.cond(state.focus, "layout-grid", "focus"), size=16),
            rx.cond(state.focus, "Full board", "Focus mode"),
            on_click=state.toggle_focus,
            variant="soft",
            color_scheme="gray",
            aria_pressed=state.focus,
            data_testid="focus-toggle",
        ),
    )


def focus_view(state: type[rx.State]) -> rx.Component:
    card = FOCUS_CARD
    return rx.card(
        key_shortcuts(keys=[*FOCUS_PILES, *UNDO_KEYS], on_key=handler("focusKey")),
        rx.vstack(
            rx.hstack(
                rx.text(FOCUS_SORTED, " of ", state.deck_size, " sorted", size="2", weight="medium"),
                rx.spacer(),
                rx.button(
                    rx.icon("undo-2", size=16),
                    "Undo",
                    on_click=call("focusUndo"),
                    disabled=FOCUS_UNDOS == 0,
                    variant="ghost",
                    size="2",
                    aria_keyshortcuts="U",
                    data_testid="focus-undo",
                ),
                width="100%",
                align="center",
            ),
            rx.progress(value=FOCUS_SORTED, max=state.deck_size, width="100%", aria_label="Cards sorted"),
            rx.cond(
                FOCUS_HAS_CARD,
                rx.center(
                    rx.vstack(
                        rx.heading(card["name"], size="8", align="center"),
                        rx.text(card["meaning"], size="4", color_scheme="gray", align="center"),
                        align="center",
                        spacing="3",
                    ),
                    data_testid="focus-card",
                    data_card_id=card["id"],
                    min_height=["26vh", "260px"],  # a phone keeps the three buttons on screen
                    width="100%",
                    padding="20px",
                    border="2px solid var(--indigo-7)",
                    border_radius="18px",
                    background="var(--color-panel-solid)",
                    aria_live="polite",
                ),
                rx.center(
                    rx.vstack(
                        rx.icon("party-popper", size=32),
                        rx.heading("Every card is sorted", size="5"),
                        rx.text("Complete the step when you are ready.", color_scheme="gray"),
                        align="center",
                    ),
                    min_height="200px",
                    width="100%",
                    data_testid="focus-done",
                ),
            ),
            rx.grid(
                *[
                    rx.button(
                        rx.text.strong(key),
                        PILE_LABELS[pile],
                        on_click=call("focusSort", pile),
                        disabled=~FOCUS_HAS_CARD,
                        size="4",
                        color_scheme=_TONE[pile],
                        variant="soft",
                        aria_keyshortcuts=key,
                        class_name="focus-pile-button",
                        data_testid=f"focus-move-{pile}",
                        width="100%",
                    )
                    for key, pile in FOCUS_PILES.items()
                ],
                columns=rx.breakpoints(initial="1", sm="3"),
                spacing="2",
                width="100%",
            ),
            rx.text(
                "Keys: 1, 2, 3 sort · U undoes", size="1", color_scheme="gray", display=["none", "block"]
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        data_testid="focus-mode",
    )
