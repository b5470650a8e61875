"""`/`: a facilitator creates a session; a participant joins one with its code and a name."""

from __future__ import annotations

import time

import reflex as rx

from cardsort_app.domain.custom_decks import DeckProblem, parse_deck_csv
from cardsort_app.domain.decks import deck_names, load_deck
from cardsort_app.service.errors import ServiceError
from cardsort_app.service.runtime import get_runtime
from cardsort_app.service.secrets import normalize_code
from cardsort_app.ui.guard import MAX_CODE_CHARS, MAX_TYPED_CHARS, page_code, text_arg
from cardsort_app.ui.identity import IdentityState
from cardsort_app.ui.join import join_request, read_join_request
from cardsort_app.ui.theme import brand, error_callout, page_shell

#: An uploaded deck file may be at most this big (a 200-card deck with descriptions is ~40 KiB).
MAX_DECK_FILE_BYTES = 64 * 1024
#: A second "Create session" with the same settings this soon after the first is its double click.
REPEAT_CREATE_S = 3.0
#: The page is connected and its on-load event (`prefill`) has run. Until then Create and Join are disabled:
#: the page is served pre-rendered, so a click before React runs is lost (or a native form submit), and a
#: Join queued behind the hydrate is sent before `prefill` has put a join link's code into the field.
LOADED = rx.State.is_hydrated
#: A notice that matters only when a wait is long: hidden for its first 1.5 s (the keyframes are in
#: cardsort.css; until that loads, this inline style keeps it hidden), and floating above the page, so that
#: neither its coming nor its going moves what the person is about to tap.
LATE_NOTICE = {
    "visibility": "hidden",
    "animation": "late-notice 0s linear 1.5s both",
    "position": "fixed",
    "z_index": "10",
    "bottom": "16px",
    "left": "50%",
    "transform": "translateX(-50%)",
    "width": "calc(100% - 32px)",
    "max_width": "560px",
    "background": "var(--gray-3)",
    "box_shadow": "0 4px 16px rgba(0, 0, 0, 0.12)",
}


def _deck_options() -> list[list[str]]:
    return [[name, f"{load_deck(name).title} ({len(load_deck(name).cards)} cards)"] for name in deck_names()]


class LandingState(IdentityState):
    title: str = ""
    deck: str = "values"
    anonymous: bool = False
    facilitator_paced: bool = False
    deck_file: str = ""  # the uploaded custom deck's file name ("" = use `deck`)
    deck_problems: list[str] = []
    _custom_cards: list[dict[str, str]] = []
    created_code: str = ""
    created_key: str = ""
    create_error: str = ""
    creating: bool = False
    _created_with: str = ""  # the settings the last session was created with, and when (epoch s)
    _created_at: float = 0.0

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
    def set_anonymous(self, value: bool) -> None:
        self.anonymous = value is True

    @rx.event
    def set_facilitator_paced(self, value: bool) -> None:
        self.facilitator_paced = value is True

    @rx.event
    async def upload_deck(self, files: list[rx.UploadFile]):
        """A custom deck as CSV (id,label,description): checked whole, every bad row reported."""
        self.deck_problems, self.deck_file, self._custom_cards = [], "", []
        if not isinstance(files, list) or len(files) != 1 or not callable(getattr(files[0], "read", None)):
            # The dropzone hands over nothing for a file it refused: too large, or not a CSV.
            self.deck_problems = [f"Choose one CSV file of at most {MAX_DECK_FILE_BYTES // 1024} KiB"]
            return
        data = await files[0].read(MAX_DECK_FILE_BYTES + 1)
        if len(data) > MAX_DECK_FILE_BYTES:
            self.deck_problems = [f"The file is over {MAX_DECK_FILE_BYTES // 1024} KiB"]
            return
        try:
            self._custom_cards = parse_deck_csv(data)
        except DeckProblem as exc:
            self.deck_problems = exc.problems[:50]
            return
        name = getattr(files[0], "name", None)
        self.deck_file = f"{(name if isinstance(name, str) and name else 'deck.csv')[:60]} · "
        self.deck_file += f"{len(self._custom_cards)} cards"

    @rx.event
    def clear_deck(self) -> None:
        self.deck_problems, self.deck_file, self._custom_cards = [], "", []

    @rx.event
    def set_join_code(self, value: str) -> None:
        self.join_code = text_arg(value, "The code", MAX_CODE_CHARS).upper()

    @rx.event
    def set_join_name(self, value: str) -> None:
        self.join_name = text_arg(value, "The name", MAX_TYPED_CHARS)

    @rx.event
    def prefill(self):
        """`/?code=ABC123` and `/join/ABC123` (the join link, the QR code) pre-fill the code."""
        code = page_code(self.router) or self.router.url.query_parameters.get("code", "")
        if isinstance(code, str) and code:
            self.join_code = normalize_code(code[:MAX_CODE_CHARS])

    @rx.event
    async def create(self):
        settings = repr((self.title, self.deck, self.anonymous, self.facilitator_paced, self.deck_file))
        if (
            self.created_code
            and settings == self._created_with
            and time.time() - self._created_at < REPEAT_CREATE_S
        ):
            return  # a double click: its first click made the session shown (this tab's events run in turn)
        self.creating, self.create_error = True, ""
        yield
        try:
            created = await get_runtime().service.create_session(
                self.title,
                self.deck,
                anonymous=self.anonymous,
                pacing="facilitator" if self.facilitator_paced else "self",
                custom_cards=list(self._custom_cards) if self.deck_file else None,
                client=self.router.session.client_ip or None,
            )
        except ServiceError as exc:
            self.create_error = str(exc)
        else:
            self.created_code, self.created_key = created.code, created.facilitator_key
            self._created_with, self._created_at = settings, time.time()
            self._remember_facilitator_key(created.code, created.facilitator_key)
        finally:
            self.creating = False

    @rx.event
    async def join(self, form: dict | None = None):
        """`form`: the browser's join request (ui/join.py): the code and name as shown, and its join token
        for the code, so that a join sent again after a lost answer resumes the participant it made."""
        request = read_join_request(form)
        if request.code is not None:
            self.join_code = request.code.upper()
        if request.name is not None:
            self.join_name = request.name
        code = normalize_code(self.join_code)
        self.joining, self.join_error = True, ""
        yield
        try:
            if not code:
                raise ServiceError("Enter the session code you were given")
            identity = await get_runtime().service.join(
                code,
                self.join_name,
                self._identity_for(code),
                client=self.router.session.client_ip or None,
                token=request.token,
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
            rx.cond(
                LandingState.deck_file == "",
                rx.select.root(
                    rx.select.trigger(width="100%", aria_label="Deck"),
                    rx.select.content(
                        *[rx.select.item(label, value=name) for name, label in _deck_options()],
                    ),
                    value=LandingState.deck,
                    on_change=LandingState.set_deck,
                ),
            ),
            create_options(),
            rx.button(
                rx.icon("plus"),
                "Create session",
                on_click=LandingState.create,
                loading=LandingState.creating,
                disabled=~LOADED,
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
                    id="landing-join-code",
                    data_testid="join-code",
                ),
                rx.input(
                    placeholder="Your name",
                    value=LandingState.join_name,
                    on_change=LandingState.set_join_name,
                    max_length=40,
                    width="100%",
                    size="3",
                    id="landing-join-name",
                    data_testid="join-name",
                ),
                rx.button(
                    rx.icon("log-in"),
                    "Join",
                    type="submit",
                    loading=LandingState.joining,
                    disabled=~LOADED,
                    size="3",
                    width="100%",
                    data_testid="join-submit",
                ),
                error_callout(LandingState.join_error, "join-error"),
                spacing="3",
                width="100%",
            ),
            on_submit=LandingState.join(join_request("landing-join-name", code_input="landing-join-code")),
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
            rx.cond(
                ~LOADED,
                rx.callout(
                    "Connecting to the server… Join and Create session are ready as soon as it answers.",
                    icon="loader",
                    color_scheme="gray",
                    size="1",
                    style=LATE_NOTICE,
                    data_testid="landing-connecting",
                ),
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


def _deck_upload() -> rx.Component:
    return rx.vstack(
        rx.el.label(  # wraps the dropzone's file input: its accessible name
            rx.upload(
                rx.hstack(
                    rx.icon("upload", size=16),
                    rx.text("Your own deck: drop a CSV here or click (id,label,description)", size="2"),
                    align="center",
                    spacing="2",
                ),
                id="deck-csv",
                multiple=False,
                accept={"text/csv": [".csv"], "text/plain": [".txt"]},
                max_size=MAX_DECK_FILE_BYTES,
                on_drop=LandingState.upload_deck(rx.upload_files(upload_id="deck-csv")),
                border="1px dashed var(--gray-7)",
                border_radius="10px",
                padding="10px",
                width="100%",
                cursor="pointer",
                data_testid="deck-upload",
            ),
            width="100%",
        ),
        rx.cond(
            LandingState.deck_file != "",
            rx.hstack(
                rx.badge(rx.icon("check", size=12), LandingState.deck_file, color_scheme="green"),
                rx.button("Use a shipped deck", variant="ghost", size="1", on_click=LandingState.clear_deck),
                align="center",
                data_testid="deck-ready",
            ),
        ),
        rx.cond(
            LandingState.deck_problems.length() > 0,
            rx.callout.root(
                rx.callout.icon(rx.icon("triangle_alert")),
                rx.vstack(
                    rx.text("This deck can't be used yet (nothing was created):", weight="bold", size="2"),
                    rx.foreach(LandingState.deck_problems, lambda p: rx.text(p, size="1")),
                    spacing="1",
                ),
                color_scheme="red",
                size="1",
                data_testid="deck-errors",
            ),
        ),
        spacing="2",
        width="100%",
    )


def create_options() -> rx.Component:
    """Anonymity, pacing and a custom deck, chosen when the session is created."""
    return rx.vstack(
        _deck_upload(),
        rx.el.label(
            rx.hstack(
                rx.switch(
                    checked=LandingState.anonymous,
                    on_change=LandingState.set_anonymous,
                    data_testid="create-anonymous",
                ),
                rx.text("Anonymous: participants see each other as “Participant 1, 2, …”", size="2"),
                align="center",
                spacing="2",
            ),
        ),
        rx.el.label(
            rx.hstack(
                rx.switch(
                    checked=LandingState.facilitator_paced,
                    on_change=LandingState.set_facilitator_paced,
                    data_testid="create-facilitator-paced",
                ),
                rx.text("I open each step for everyone (facilitator-paced)", size="2"),
                align="center",
                spacing="2",
            ),
        ),
        spacing="2",
        width="100%",
    )
