"""Reflex configuration. Runtime settings come from the environment (see README)."""

import os

import reflex as rx

# A connection that dies without closing (a phone losing its network) is noticed within about 10 s, so the
# participant shows offline quickly; the default would take minutes.
os.environ.setdefault("REFLEX_SOCKET_INTERVAL", "5")
os.environ.setdefault("REFLEX_SOCKET_TIMEOUT", "5")
# Several backend workers (Reflex starts them when Redis is configured) need a bus that crosses processes.
# Without Ably there is none, so stay on one worker.
if not os.environ.get("ABLY_API_KEY"):
    os.environ.setdefault("GRANIAN_WORKERS", "1")

config = rx.Config(
    app_name="cardsort_app",
    # One process keeps per-tab state in memory; several workers share it through Redis (REDIS_URL).
    state_manager_mode="redis" if os.environ.get("REDIS_URL") else "memory",
    redis_url=os.environ.get("REDIS_URL") or None,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(accent_color="indigo", gray_color="slate", radius="large"),
        ),
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
