"""Real Chromium (Debian's package; Playwright's own browser download cannot work on these machines)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from playwright.sync_api import Browser, BrowserContext


@contextlib.contextmanager
def contexts_for(browser: Browser, base_url: str) -> Iterator[Callable[..., BrowserContext]]:
    """A factory of fresh browser profiles (each its own localStorage = its own participant), closed after."""
    contexts: list[BrowserContext] = []

    def make(**kwargs) -> BrowserContext:
        ctx = browser.new_context(base_url=base_url, **kwargs)
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        with contextlib.suppress(Exception):  # a test may have closed it already
            ctx.close()
