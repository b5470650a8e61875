"""rx.App assembly only: pages, the REST API in front, and the runtime's start-up and shutdown."""

import contextlib

import reflex as rx

from cardsort_app import bootstrap, metrics
from cardsort_app.api.routes import api
from cardsort_app.service import runtime
from cardsort_app.settings import load_settings
from cardsort_app.ui import tab_expiry
from cardsort_app.ui.board import board_page
from cardsort_app.ui.board_state import BoardState
from cardsort_app.ui.dashboard import dashboard_page
from cardsort_app.ui.dashboard_state import DashboardState
from cardsort_app.ui.firewall import install as install_firewall
from cardsort_app.ui.landing import LandingState, landing_page
from cardsort_app.ui.live import install as install_live
from cardsort_app.ui.live import live
from cardsort_app.ui.replay_state import ReplayState
from cardsort_app.ui.results import results_page
from cardsort_app.ui.team import team_page
from cardsort_app.ui.team_state import TeamState
from cardsort_app.ui.workshop_board import summary_page

bootstrap.install()  # the composition root: settings -> store, bus, presence, hub, relay, service


@contextlib.asynccontextmanager
async def _runtime_lifespan(app: rx.App):
    # Migrations run here, before the first request, in every worker (idempotent).
    rt = runtime.get_runtime()
    await rt.start()
    install_live(app)
    tab_expiry.install(app, load_settings().tab_grace_seconds, forget=live.forget, records=live.records)
    install_firewall(app)
    metrics.watch_runtime(rt)
    try:
        yield
    finally:
        await runtime.shutdown()


app = rx.App(
    api_transformer=api,
    head_components=[rx.el.meta(name="theme-color", content="#3e63dd")],
    stylesheets=["/cardsort.css"],
)
app.register_lifespan_task(_runtime_lifespan)
app.add_page(landing_page, route="/", title="Cardsort", on_load=LandingState.prefill)
app.add_page(board_page, route="/s/[code]", title="Cardsort · board", on_load=BoardState.load)
app.add_page(
    dashboard_page,
    route="/s/[code]/facilitate",
    title="Cardsort · dashboard",
    on_load=[DashboardState.load, ReplayState.load],
)
app.add_page(results_page, route="/s/[code]/results", title="Cardsort · results", on_load=DashboardState.load)
app.add_page(summary_page, route="/s/[code]/summary", title="Cardsort · my summary", on_load=BoardState.load)
app.add_page(landing_page, route="/join/[code]", title="Cardsort · join", on_load=LandingState.prefill)
app.add_page(team_page, route="/s/[code]/team", title="Cardsort · team values", on_load=TeamState.load)
