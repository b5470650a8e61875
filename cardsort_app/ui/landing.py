"""`/`: a facilitator creates a session; a participant joins one with its code and a name."""

from __future__ import annotations

import reflex as rx

from cardsort_app.domain.decks import deck_names, load_deck
from cardsort_app.service.errors import ServiceError
from cardsort_app.service.runtime import get_runtime
from cardsort_app.service.secrets import normalize_code
from cardsort_app.ui.guard import text_arg
from cardsort_app.ui.identity import IdentityState
from cardsort_app.ui.theme import brand, error_callout, page_shell


def _deck_options() -> list[list[str]]:
    return [[name, f"{load_deck(name).title} ({len(load_deck(name).cards)} cards)"] for name in deck_names()]


MAX_CODE_CHARS = 32
MAX_TYPED_CHARS = 200  # what a field may hold as typed; the rules then allow 40 (names) and 120 (titles)


class LandingState(IdentityState):
    title: str = ""
    deck: str = "values"
    created_code: str = ""
    created_key: str = ""
    create_error: str = ""
    creating: bool = False

    join_code: str = ""
    join_name: str = ""
    join_error: str = ""
    joining: bool = False

    def _refuse_malformed(self, message: str) -> None:
        self.join_error = message

    @rx.event
    def set_title(self, value: str) -> None:
        self.title = text_arg(value, "The title", MAX_TYPED_CHARS)

    @rx.event
    def set_deck(self, value: str) -> None:
        self.deck = text_arg(value, "The deck", MAX_CODE_CHARS)

    @rx.event
    def set_join_code(self, value: str) -> None:
        self.join_code = text_arg(value, "The code", MAX_CODE_CHARS).upper()

    @rx.event
    def set_join_name(self, value: str) -> None:
        self.join_name = text_arg(value, "The name", MAX_TYPED_CHARS)

    @rx.event
    def prefill(self):
        """`/?code=ABC123` (the join link) pre-fills the code."""
        code = self.router.url.query_parameters.get("code", "")
        if isinstance(code, str) and code:
            self.join_code = normalize_code(code[:MAX_CODE_CHARS])

    @rx.event
    async def create(self):
        self.creating, self.create_error = True, ""
        yield
        try:
            created = await get_runtime().service.create_session(
                self.title, self.deck, client=self.router.session.client_ip or None
            )
        except ServiceError as exc:
            self.create_error = str(exc)
        else:
            self.created_code, self.created_key = created.code, created.facilitator_key
            self._remember_facilitator_key(created.code, created.facilitator_key)
        finally:
            self.creating = False

    @rx.event
    async def join(self, form: dict | None = None):
        code = normalize_code(self.join_code)
        self.joining, self.join_error = True, ""
        yield
        try:
            if not code:
                raise ServiceError("Enter the session code you were given")
            identity = await get_runtime().service.join(
                code, self.join_name, self._identity_for(code), client=self.router.session.client_ip or None
            )
        except ServiceError as exc:
            self.join_error = str(exc)
            self.joining = False
            return
        self._remember_identity(code, identity)
        self.joining = False
        yield rx.redirect(f"/s/{code}")

    @rx.var
    def facilitator_link(self) -> str:
        return f"/s/{self.created_code}/facilitate?key={self.created_key}" if self.created_code else ""

    @rx.var
    def join_link(self) -> str:
        return f"/?code={self.created_code}" if self.created_code else ""


def _create_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Run a workshop", size="5"),
            rx.text("Open a session and share its code with the group.", color_scheme="gray", size="2"),
            rx.input(
                placeholder="Workshop title (optional)",
                value=LandingState.title,
                on_change=LandingState.set_title,
                max_length=120,
                width="100%",
                data_testid="create-title",
            ),
            rx.select.root(
                rx.select.trigger(width="100%"),
                rx.select.content(
                    *[rx.select.item(label, value=name) for name, label in _deck_options()],
                ),
                value=LandingState.deck,
                on_change=LandingState.set_deck,
            ),
            rx.button(
                rx.icon("plus"),
                "Create session",
                on_click=LandingState.create,
                loading=LandingState.creating,
                size="3",
                width="100%",
                data_testid="create-session",
            ),
            error_callout(LandingState.create_error, "create-error"),
            rx.cond(
                LandingState.created_code != "",
                rx.vstack(
                    rx.text("Session code", size="2", color_scheme="gray"),
                    rx.text(
                        LandingState.created_code,
                        size="8",
                        weight="bold",
                        letter_spacing="0.15em",
                        font_family="ui-monospace, monospace",
                        data_testid="session-code",
                    ),
                    rx.hstack(
                        rx.link(
                            rx.button(rx.icon("layout-dashboard"), "Open the dashboard", variant="soft"),
                            href=LandingState.facilitator_link,
                            data_testid="facilitator-link",
                        ),
                        rx.link(
                            rx.button(rx.icon("user-plus"), "Join link", variant="outline"),
                            href=LandingState.join_link,
                            data_testid="join-link",
                        ),
                        wrap="wrap",
                    ),
                    rx.text(
                        "Keep the dashboard link to yourself: it holds the facilitator key.",
                        size="1",
                        color_scheme="gray",
                    ),
                    spacing="2",
                    padding_top="8px",
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
    )


def _join_card() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Join a session", size="5"),
                rx.text(
                    "Type the code your facilitator shared, and your name.", color_scheme="gray", size="2"
                ),
                rx.input(
                    placeholder="Code, e.g. K7QX2M",
                    value=LandingState.join_code,
                    on_change=LandingState.set_join_code,
                    max_length=12,
                    auto_complete="off",
                    width="100%",
                    size="3",
                    font_family="ui-monospace, monospace",
                    data_testid="join-code",
                ),
                rx.input(
                    placeholder="Your name",
                    value=LandingState.join_name,
                    on_change=LandingState.set_join_name,
                    max_length=40,
                    width="100%",
                    size="3",
                    data_testid="join-name",
                ),
                rx.button(
                    rx.icon("log-in"),
                    "Join",
                    type="submit",
                    loading=LandingState.joining,
                    size="3",
                    width="100%",
                    data_testid="join-submit",
                ),
                error_callout(LandingState.join_error, "join-error"),
                spacing="3",
                width="100%",
            ),
            on_submit=LandingState.join,
            reset_on_submit=False,
        ),
        size="3",
        width="100%",
    )


def landing_page() -> rx.Component:
    return page_shell(
        rx.vstack(
            brand(),
            rx.vstack(
                rx.heading("Find what matters most, together.", size="8", align="center"),
                rx.text(
                    "A live values card sort: everyone sorts the same deck in three steps — piles, "
                    "top 8, top 3 — and the group sees each other's progress as it happens.",
                    size="4",
                    color_scheme="gray",
                    align="center",
                    max_width="640px",
                ),
                align="center",
                spacing="3",
                padding_y=["16px", "32px"],
                width="100%",
            ),
            rx.grid(
                _join_card(),
                _create_card(),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="5",
                width="100%",
            ),
            spacing="5",
            width="100%",
        ),
        max_width="960px",
    )
