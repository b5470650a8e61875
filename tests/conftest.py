"""Shared settings and the one Chromium of a test run.

PostgreSQL for the store/service tests: a missing server fails them, never skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support.app_server import CHROMIUM, CHROMIUM_ARGS

#: Packages whose tests drive real browsers. They run last: Playwright's sync API keeps an event loop
#: marked running in the main thread while it is alive, which the asyncio tests cannot share.
BROWSER_PACKAGES = ("e2e", "multiworker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def browser_last(item: pytest.Item) -> int:
        return 1 if item.path.parent.name in BROWSER_PACKAGES else 0

    items.sort(key=browser_last)  # stable: the order within each group is kept


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def chromium(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()
