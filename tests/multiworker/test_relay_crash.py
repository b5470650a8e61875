"""A worker killed between append and publish: the relay of the next worker publishes what it left."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time

from cardsort_app.store.eventstore import EventStore
from tests.bus.helpers import carried_seqs
from tests.support.app_server import ROOT

OUTAGE_S = 15


def _worker(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.multiworker.worker_process", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_port(port: int, up: bool, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            if up:
                return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise AssertionError(f"port {port} did not go {'up' if up else 'down'}")


def _line(proc: subprocess.Popen, timeout: float = 60) -> str:
    """The worker's next stdout line, or a failure (never a hang) when it says nothing in time."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"worker said nothing for {timeout:.0f} s")
    line = proc.stdout.readline().strip()
    assert line, f"worker exited with {proc.wait()}"
    return line


def test_the_relay_publishes_what_a_killed_worker_appended(ably, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    env = dict(
        os.environ,
        DATABASE_URL=url,
        ABLY_API_KEY=ably.key,
        ABLY_ENDPOINT=f"127.0.0.1:{ably.port}/",
        ABLY_TLS="0",
        ABLY_USE_TOKEN_AUTH="1",
        ABLY_REALTIME_REQUEST_TIMEOUT_MS="1000",
        ABLY_DISCONNECTED_RETRY_TIMEOUT_MS="300",
        ABLY_CONNECT_TIMEOUT_MS="2000",
    )
    first = _worker(env, "session")
    fields = dict(part.split("=", 1) for part in _line(first).split())
    assert first.wait(timeout=30) == 0
    code = fields["CODE"]

    doomed = _worker(env, "move", code, fields["PID"], fields["SECRET"], "4")
    assert _line(doomed) == "READY"  # connected to Ably
    ably.control.stop_for(OUTAGE_S)  # the bus goes down: appends succeed, publishes cannot
    _wait_port(ably.port, up=False)
    doomed.stdin.write("go\n")
    doomed.stdin.flush()
    assert _line(doomed) == "APPENDED"
    os.killpg(doomed.pid, signal.SIGKILL)  # dies between append and publish
    doomed.wait()

    store = EventStore(url)
    pending = store.unpublished(code)
    assert [e.type for e in pending] == ["CARD_MOVED"] * 4
    _wait_port(ably.port, up=True, timeout=OUTAGE_S + 10)

    second = _worker(env, "recover")
    assert _line(second) == "PENDING=4 LEFT=0"  # start-up published what the dead worker appended
    assert second.wait(timeout=30) == 0
    assert store.unpublished(code) == []
    history = ably.control.history(f"sessions:{code}")
    log = store.events_after(code, 0)
    assert {e.seq for e in log} == set(carried_seqs(history))
    ids = [m["id"] for m in history]
    assert len(ids) == len(set(ids))  # each message once, whatever was retried
    store.dispose()
