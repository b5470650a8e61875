"""The composition root: builds the process's runtime from the settings with the concrete adapters.

The only module that knows every layer: the SQL store and the bus (Ably when ABLY_API_KEY is set, else
in-process) are chosen here and handed to the service as its ports. Imported by the app module
(cardsort_app.py), the test worker process and the benchmarks; nothing inside the layers imports it.
"""

from __future__ import annotations

import logging

from cardsort_app import metrics
from cardsort_app.bus.inprocess import InProcessBus
from cardsort_app.service import runtime
from cardsort_app.service.bus_port import EventBus
from cardsort_app.service.limits import Limits, LimitSettings
from cardsort_app.service.runtime import Runtime
from cardsort_app.settings import Settings, load_settings
from cardsort_app.store import migrate
from cardsort_app.store.async_store import AsyncStore
from cardsort_app.store.eventstore import EventStore

log = logging.getLogger(__name__)


def make_bus(settings: Settings) -> EventBus:
    """AblyBus when ABLY_API_KEY is set (see cardsort_app/bus/ably_bus.py), else the in-process bus."""
    if settings.uses_ably:
        from cardsort_app.bus.ably_bus import AblyBus  # the ably SDK loads only when it is used

        return AblyBus(settings.ably_client_options(), **settings.ably_bus_options())
    return InProcessBus()


def build(url: str | None = None, bus: EventBus | None = None, settings: Settings | None = None) -> Runtime:
    """A runtime on `url` (default: DATABASE_URL) with `bus` (default: the one the settings name)."""
    settings = settings or load_settings()
    url = url or settings.database_url
    migrate.upgrade(url)  # the schema exists only through migrations, applied at start-up
    store = AsyncStore(EventStore(url, snapshot_every=settings.snapshot_every))
    limits = Limits(LimitSettings(**settings.limit_options()))
    return Runtime.assemble(
        store, bus or make_bus(settings), idle_end_minutes=settings.idle_end_minutes, limits=limits
    )


def _build_for_this_process() -> Runtime:
    settings = load_settings()
    built = build(settings=settings)
    log.info("cardsort runtime ready on %s", settings.database_url.split("@")[-1])
    return built


def install() -> None:
    """Make `runtime.get_runtime()` build this process's runtime from the environment on first use, and
    put /metrics behind CARDSORT_METRICS_TOKEN when it is set."""
    token = load_settings().metrics_token
    metrics.require_token(token.get_secret_value() if token is not None else None)
    runtime.provide(_build_for_this_process)
