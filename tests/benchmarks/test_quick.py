"""Every benchmark in its `--quick` mode (tiny sizes), so none can rot: it must complete and print its table.

Timings are never asserted (BENCHMARKS.md has the figures); the live-app benchmarks run against the test
run's shared app instead of building their own.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.app_server import ROOT, AppServer


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args, "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, COLUMNS="160"),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_core_paths_quick() -> None:
    out = run("benchmarks.run")
    assert "Cardsort benchmarks" in out
    rows = (
        "reduce: events/s",
        "sqlite append",
        "postgres append",
        "command -> 30 listeners p50",
        "KiB written",
    )
    for row in rows:
        assert row in out, out


def test_ws_load_quick(app_server: AppServer) -> None:
    out = run("benchmarks.ws_load", "--url", app_server.url)
    assert "Live fan-out" in out
    for row in ("step: other participants", "floor: same frame, python-socketio", "app p50 / floor p50"):
        assert row in out, out
    assert "bytes per round" in out and "join: 4 tabs" in out, out


def test_e2e_latency_quick(app_server: AppServer) -> None:
    out = run("benchmarks.e2e_latency", "--url", app_server.url)
    assert "other tabs" in out and "acting tab" in out, out


def test_memory_quick() -> None:
    out = run("benchmarks.memory")
    assert "Memory of abandoned sessions" in out and "last / reference" in out, out
    # per tab: each wave's fit over the sizes, beside the python-socketio floor's
    assert "wave 1 (a fresh process):" in out and "KiB per tab" in out, out
    assert "the floor's sockets:" in out and "app's own beyond the floor" in out, out


def test_replay_jump_quick() -> None:
    out = run("benchmarks.replay_jump")
    assert "Replay jump" in out and "jump p50 ms" in out, out


def test_sqlite_layouts_quick() -> None:
    out = run("benchmarks.sqlite_layouts")
    assert "statement alone" in out and "rate ÷ eventsourcing" in out, out
    for layout in ("ours", "eventsourcing", "clustered + outbox"):
        assert layout in out, out
