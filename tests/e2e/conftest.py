"""Real Chromium, one context per person, against the one real app of the test run (`app_server`,
tests/conftest.py). Each test makes its own session, so tests never share state.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.support.app_server import AppServer
from tests.support.browser import contexts_for


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
