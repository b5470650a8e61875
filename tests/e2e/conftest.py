"""One real app per test run (compiling Reflex costs a minute), real Chromium, one context per person.

The app runs exactly as `make run` runs it (production build, one port), on a free port and a fresh
SQLite file; each test makes its own session, so tests never share state.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.support.app_server import AppServer, app_env, free_port
from tests.support.browser import contexts_for


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    data = tmp_path_factory.mktemp("app")
    env = app_env(DATABASE_URL=f"sqlite:///{data / 'cardsort.db'}")
    log_path = Path(os.environ.get("CARDSORT_E2E_LOG", data / "app.log"))
    server = AppServer(free_port(), env, log_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def new_context(chromium: Browser, app_server: AppServer) -> Iterator:
    """Factory: a fresh browser profile (its own localStorage = its own participant)."""
    with contexts_for(chromium, app_server.url) as make:
        yield make


@pytest.fixture
def page(new_context) -> Page:
    return new_context().new_page()


@pytest.fixture
def api(app_server: AppServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app_server.url, timeout=10) as client:
        yield client
