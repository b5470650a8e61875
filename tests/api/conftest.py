"""The REST API driven in-process (httpx over ASGI) on a runtime built on a temporary SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cardsort_app.api.routes import api
from cardsort_app.bootstrap import build
from cardsort_app.service import runtime
from cardsort_app.service.runtime import Runtime


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "cardsort.db"


@pytest.fixture
async def rt(db_path: Path) -> AsyncIterator[Runtime]:
    """The process runtime, pointed at a fresh SQLite file for this test (and put back afterwards)."""
    previous = runtime._runtime
    built = build(f"sqlite:///{db_path}")
    runtime._runtime = built
    try:
        yield built
    finally:
        runtime._runtime = previous
        await built.close()


@pytest.fixture
async def client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://cardsort.test"
    ) as c:
        yield c
