"""rx.App assembly only: pages, the REST API in front, and the runtime's start-up and shutdown."""

import contextlib

import reflex as rx

from cardsort_app.api.routes import api
from cardsort_app.service import runtime
from cardsort_app.ui.landing import LandingState, landing_page


@contextlib.asynccontextmanager
async def _runtime_lifespan():
    # Migrations run here, before the first request, in every worker (idempotent).
    runtime.get_runtime()
    try:
        yield
    finally:
        await runtime.shutdown()


app = rx.App(
    api_transformer=api,
    head_components=[rx.el.meta(name="theme-color", content="#3e63dd")],
)
app.register_lifespan_task(_runtime_lifespan)
app.add_page(landing_page, route="/", title="Cardsort", on_load=LandingState.prefill)
