"""Shared settings and the one Chromium of a test run.

PostgreSQL for the store/service tests and Redis for the multi-worker tests come from TEST_DATABASE_URL /
TEST_REDIS_URL, or are started for the run on first use and stopped at its end (tests/support/services.py).
A server that cannot be reached fails its tests, never skips them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support import services
from tests.support.app_server import CHROMIUM, CHROMIUM_ARGS, ROOT, AppServer, app_env, free_port

#: Packages whose tests drive real browsers. They run last: Playwright's sync API keeps an event loop
#: marked running in the main thread while it is alive, which the asyncio tests cannot share.
BROWSER_PACKAGES = ("e2e", "multiworker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def browser_last(item: pytest.Item) -> int:
        return 1 if item.path.parent.name in BROWSER_PACKAGES else 0

    items.sort(key=browser_last)  # stable: the order within each group is kept


def pytest_unconfigure(config: pytest.Config) -> None:
    services.stop()  # the servers this run started, if any


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def chromium(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """One real app per test run (compiling Reflex costs a minute), shared by the end-to-end and the
    security tests: run exactly as `make run` runs it (production build, one port), on a free port and a
    fresh SQLite file."""
    if url := os.environ.get("CARDSORT_TEST_APP_URL"):  # iterate against an app you already run
        yield AppServer(int(url.rsplit(":", 1)[1]), {}, Path(os.environ["CARDSORT_E2E_LOG"]))
        return
    data = tmp_path_factory.mktemp("app")
    # Every test of the run is one client address (127.0.0.1) creating sessions quickly: a per-client
    # creation limit above the default's 20 a minute, and no global one (tests/security checks the limits
    # from other loopback addresses).
    env = app_env(
        DATABASE_URL=f"sqlite:///{data / 'cardsort.db'}",
        CARDSORT_CREATES_PER_CLIENT_PER_MINUTE="40",
        CARDSORT_CREATES_PER_MINUTE="100000",
    )
    log_path = Path(os.environ.get("CARDSORT_E2E_LOG", data / "app.log"))
    # Its own frontend build: the benchmarks and crash/cluster tests start apps of their own, whose builds
    # in `.web` would point this app's pages at their (dead) ports.
    server = AppServer(free_port(), env, log_path, web_dir=ROOT / ".web-shared-test-app")
    server.start()
    yield server
    server.stop()
