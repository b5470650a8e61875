"""The app's server runs its event loop on uvloop (a dependency: Granian picks it when installed): the loop's
own work per socket write, timer and thread hand-off is most of what a live frame to hundreds of tabs costs
(BENCHMARKS.md, issue 10's CPU row). A server that silently fell back to asyncio's loop would still pass
every other test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.app_server import AppServer


def _group(leader: int) -> list[int]:
    """The processes of `leader`'s process group (the app server starts in a session of its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == leader:
                    found.append(int(entry.name))
            except ProcessLookupError:
                continue
    return found


def test_the_app_server_runs_on_uvloop(app_server: AppServer) -> None:
    if app_server.proc is None:
        pytest.fail("needs the app this run started (CARDSORT_TEST_APP_URL gives no process to inspect)")
    maps = [Path(f"/proc/{pid}/maps") for pid in _group(app_server.proc.pid)]
    loaded = [m for m in maps if m.exists() and "uvloop" in m.read_text()]
    assert loaded, "no process of the app server loaded uvloop: Granian runs it on asyncio's own loop"
