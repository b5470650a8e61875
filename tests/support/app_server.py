"""The real app in a subprocess, started exactly as `make run` starts it (production build, one port)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
STARTUP_TIMEOUT_S = 420
#: The Makefile's _RJEM_MALLOC_CONF: Granian's jemalloc gives freed pages back at once.
JEMALLOC_CONF = "dirty_decay_ms:0,muzzy_decay_ms:0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """`reflex run --env prod --single-port` in its own process group, restartable on the same port/DB."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path, web_dir: Path | None = None) -> None:
        """`web_dir`: a frontend build of its own (REFLEX_WEB_WORKDIR) instead of the project's `.web`. The
        build bakes the app's port into its bundle, so an app that must outlive other apps' builds (the
        shared test app) needs one: another `reflex run` in `.web` would point its pages at a dead port."""
        self.port = port
        self.env = env if web_dir is None else {**env, "REFLEX_WEB_WORKDIR": str(web_dir)}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reflex",
                "run",
                "--env",
                "prod",
                "--single-port",
                "--frontend-port",
                str(self.port),
                "--loglevel",
                "info",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_healthy()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if (
                    httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200
                    and httpx.get(f"{self.url}/", timeout=5).status_code == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"app not healthy after {STARTUP_TIMEOUT_S}s; see {self.log_path}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def app_env(**overrides: str) -> dict[str, str]:
    """The environment `make run` gives the app: bun from .tools, the venv's Python first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.tools/node_modules/.bin'}:{Path(sys.executable).parent}:{env['PATH']}"
    env["REFLEX_USE_SYSTEM_BUN"] = "1"
    env.setdefault("_RJEM_MALLOC_CONF", JEMALLOC_CONF)  # as the Makefile exports it
    env.update(overrides)
    return env
