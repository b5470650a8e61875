"""Reflex configuration. Runtime settings come from the environment (see README)."""

import os

import reflex as rx

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
