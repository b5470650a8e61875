"""The scale-out deployment, for real: PostgreSQL (the log) + Redis (Reflex's tab state) + several backend
workers + the local Ably-compatible server (fan-out and presence), driven by real Chromium.

The app runs as `reflex run --env prod --single-port` with REDIS_URL set, so Reflex starts
GRANIAN_WORKERS backend processes behind one port; a tab's websocket lands on one of them and its board
says which (`data-worker`).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import Browser

from tests.support.ably_server import ControlClient
from tests.support.app_server import ROOT, AppServer, app_env, free_port
from tests.support.browser import contexts_for
from tests.support.databases import Database
from tests.support.services import redis_url

WORKERS = 2


class AblyProcess:
    """The local Ably-compatible server in its own process (the app's workers connect to it over TCP)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.ably_server", "--port", "0", "--presence-grace-ms", "1000"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        if not select.select([self.proc.stdout], [], [], 30)[0]:
            self.proc.kill()
            raise RuntimeError("the local Ably server did not start within 30 s")
        lines = [self.proc.stdout.readline().strip() for _ in range(2)]
        values = dict(line.split("=", 1) for line in lines)
        self.port = int(values["PORT"])
        self.key = values["KEY"]
        self.control = ControlClient(self.port)

    def close(self) -> None:
        self.control.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def cluster_env(ably: AblyProcess, database_url: str, workers: int = WORKERS) -> dict[str, str]:
    """The app's environment for the scale-out deployment (see the README's multi-worker section)."""
    return app_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url(),
        GRANIAN_WORKERS=str(workers),
        ABLY_API_KEY=ably.key,
        ABLY_ENDPOINT=f"127.0.0.1:{ably.port}/",
        ABLY_TLS="0",
        ABLY_USE_TOKEN_AUTH="1",
        ABLY_REALTIME_REQUEST_TIMEOUT_MS="1500",
        ABLY_DISCONNECTED_RETRY_TIMEOUT_MS="300",
        # Ably's per-channel limit (50 msg/s) is shared by every worker publishing on the channel.
        ABLY_CHANNEL_RATE=str(50 // workers),
    )


@pytest.fixture(scope="session")
def ably() -> Iterator[AblyProcess]:
    server = AblyProcess()
    yield server
    server.close()


@pytest.fixture(scope="session")
def cluster_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway schema in the PostgreSQL test database, so the run starts from an empty log."""
    db = Database("postgresql", tmp_path_factory.mktemp("cluster-db"), prefix="cardsort_mw")
    yield db.url
    db.drop()


@pytest.fixture(scope="session")
def cluster(
    ably: AblyProcess, cluster_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    redis.Redis.from_url(redis_url()).flushdb()
    data = tmp_path_factory.mktemp("cluster")
    env = cluster_env(ably, cluster_db)
    server = AppServer(free_port(), env, Path(os.environ.get("CARDSORT_CLUSTER_LOG", data / "app.log")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cluster_context(chromium: Browser, cluster: AppServer) -> Iterator:
    with contexts_for(chromium, cluster.url) as make:
        yield make


@pytest.fixture
def cluster_api(cluster: AppServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=10) as client:
        yield client
