"""Reflex configuration. Runtime settings come from the environment (cardsort_app/settings.py, README)."""

import os

import reflex as rx

from cardsort_app.settings import load_settings

settings = load_settings()  # a bad variable stops start-up here, naming it

# A connection that dies without closing (a phone losing its network) is noticed within about 10 s, so the
# participant shows offline quickly; the default would take minutes.
os.environ.setdefault("REFLEX_SOCKET_INTERVAL", "5")
os.environ.setdefault("REFLEX_SOCKET_TIMEOUT", "5")
# Several backend workers (Reflex starts them when Redis is configured) need a bus that crosses processes.
# Without Ably there is none, so stay on one worker.
if not settings.uses_ably:
    os.environ.setdefault("GRANIAN_WORKERS", "1")

config = rx.Config(
    app_name="cardsort_app",
    # One process keeps per-tab state in memory; several workers share it through Redis (REDIS_URL).
    state_manager_mode="redis" if settings.redis_url else "memory",
    redis_url=settings.redis_url,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="indigo", gray_color="slate", radius="large"),
        ),
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
