"""Focus sorting for step 1, the classic card-sort flow: one card at a time, large, three pile buttons
(keys 1 / 2 / 3), an undo of the last move (U, Backspace or Ctrl+Z), a progress count, and a switch back
to the full board. Made for one thumb on a phone: the buttons sit at the bottom, full width.

`FocusMode` is a mixin of BoardState: every move goes through the board's own optimistic command path
(`_act`: the identity is proven first, the rules decide, a refusal rolls back with a notice).
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from cardsort_app.domain import rules
from cardsort_app.domain.rules import PILE_LABELS
from cardsort_app.ui.guard import BadArgument, text_arg
from cardsort_app.ui.workshop_components import key_shortcuts

#: The three piles of step 1, by their keyboard shortcut.
FOCUS_PILES = {"1": "very-important", "2": "important", "3": "not-important"}
UNDO_KEYS = ("u", "U", "Backspace", "undo")
#: How many focus moves this tab can undo, newest last.
MAX_UNDO = 100


class FocusMode(rx.State, mixin=True):
    focus: bool = False
    focus_undos: int = 0  # how many focus moves can be undone
    _focus_moves: list[list[str]] = []  # [card id, pile] of this tab's focus moves, newest last

    @rx.var
    def focus_card(self) -> dict[str, str]:
        """The card to sort now: the first unsorted one, as this tab shows it."""
        unsorted = self.piles.get("unsorted") or []
        return unsorted[0] if unsorted else {}

    @rx.var
    def focus_sorted(self) -> int:
        return self.deck_size - len(self.piles.get("unsorted") or [])

    @rx.event
    def toggle_focus(self) -> None:
        self.focus = not self.focus

    @rx.event
    async def focus_sort(self, to_pile: str):
        """Sort the card shown in focus into `to_pile` (very-important, important or not-important)."""
        async for update in self._focus_sort(to_pile):
            yield update

    @rx.event
    async def focus_undo(self):
        async for update in self._focus_undo():
            yield update

    @rx.event
    async def focus_key(self, key: str):
        """A key pressed in focus mode: 1 / 2 / 3 sort the card, U / Backspace / Ctrl+Z undo."""
        key = text_arg(key, "The key", 12)
        if not self.focus or self.step != 1:
            return
        if key in FOCUS_PILES:
            async for update in self._focus_sort(FOCUS_PILES[key]):
                yield update
        elif key in UNDO_KEYS:
            async for update in self._focus_undo():
                yield update

    async def _focus_sort(self, to_pile: Any):
        to_pile = text_arg(to_pile, "The pile", 20)
        if to_pile not in FOCUS_PILES.values():
            raise BadArgument("focus mode sorts into very-important, important or not-important")
        unsorted = self.piles.get("unsorted") or []
        card = unsorted[0].get("id") if unsorted else None
        if not card:
            return
        async for update in self._act(
            lambda s, pid: rules.move_card(s, pid, card, to_pile, from_pile="unsorted")
        ):
            yield update
        if any(c.get("id") == card for c in self.piles.get(to_pile, [])):  # it landed: undoable
            self._focus_moves = [*self._focus_moves, [card, to_pile]][-MAX_UNDO:]
            self.focus_undos = len(self._focus_moves)

    async def _focus_undo(self):
        if not self._focus_moves:
            return
        card, pile = self._focus_moves[-1]
        self._focus_moves = self._focus_moves[:-1]
        self.focus_undos = len(self._focus_moves)
        # Back to the front of `unsorted`, so it is the card in focus again.
        async for update in self._act(
            lambda s, pid: rules.move_card(s, pid, card, "unsorted", 0, from_pile=pile)
        ):
            yield update


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
    card = state.focus_card
    return rx.card(
        key_shortcuts(keys=[*FOCUS_PILES, *UNDO_KEYS], on_key=state.focus_key),
        rx.vstack(
            rx.hstack(
                rx.text(state.focus_sorted, " of ", state.deck_size, " sorted", size="2", weight="medium"),
                rx.spacer(),
                rx.button(
                    rx.icon("undo-2", size=16),
                    "Undo",
                    on_click=state.focus_undo,
                    disabled=state.focus_undos == 0,
                    variant="ghost",
                    size="2",
                    aria_keyshortcuts="U",
                    data_testid="focus-undo",
                ),
                width="100%",
                align="center",
            ),
            rx.progress(
                value=state.focus_sorted, max=state.deck_size, width="100%", aria_label="Cards sorted"
            ),
            rx.cond(
                card.contains("id"),
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
                        on_click=state.focus_sort(pile),
                        disabled=~card.contains("id"),
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
