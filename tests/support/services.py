"""Throwaway PostgreSQL and Redis for a test run, so `make test` needs nothing running beforehand.

`database_url()` / `redis_url()` answer ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` when set (use existing
servers); otherwise the first call starts a private server on a free loopback port in a temporary
directory (Debian's ``postgresql`` / ``redis-server`` binaries; the Makefile installs them when missing)
and exports its URL, so subprocesses (app servers, workers) inherit it.

A small watchdog process holds a pipe from this process: when the pipe closes -- `stop()`, a normal exit,
a failure, even SIGKILL -- it stops the servers and deletes the directory.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.app_server import free_port

DATABASE_ENV = "TEST_DATABASE_URL"
REDIS_ENV = "TEST_REDIS_URL"
START_TIMEOUT_S = 60
#: PostgreSQL refuses to run as root; as root the cluster belongs to this user (Debian's package makes it).
PG_USER = "postgres"

_watchdog: subprocess.Popen | None = None
_root: Path | None = None


def database_url() -> str:
    """The PostgreSQL the tests use: ``TEST_DATABASE_URL``, or a private one started now."""
    if not os.environ.get(DATABASE_ENV):
        os.environ[DATABASE_ENV] = _start_postgres(_workdir())
    return os.environ[DATABASE_ENV]


def redis_url() -> str:
    """The Redis the tests use: ``TEST_REDIS_URL``, or a private one started now."""
    if not os.environ.get(REDIS_ENV):
        os.environ[REDIS_ENV] = _start_redis(_workdir())
    return os.environ[REDIS_ENV]


def stop() -> None:
    """Stop what this process started (the watchdog does the work); harmless when nothing was."""
    global _watchdog, _root
    if _watchdog is not None:
        with contextlib.suppress(OSError):
            _watchdog.stdin.close()
        _watchdog.wait(timeout=60)
        _watchdog = None
        _root = None


def _workdir() -> Path:
    global _watchdog, _root
    if _root is None:
        _root = Path(tempfile.mkdtemp(prefix="cardsort-services-"))
        _root.chmod(0o755)  # the PostgreSQL user must reach its data directory inside
        _watchdog = subprocess.Popen(
            [sys.executable, "-m", "tests.support.services", "--watch", str(_root)],
            stdin=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C to the test run must not kill it before it cleans up
            cwd=Path(__file__).resolve().parents[2],
        )
        atexit.register(stop)
    return _root


def _binary(name: str, package: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version, reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"{name} not found: install Debian's {package} package (make test does)")
    return found


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def _as_pg_user() -> dict:
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(PG_USER)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _start_postgres(root: Path) -> str:
    initdb, pg_ctl = _binary("initdb", "postgresql"), _binary("pg_ctl", "postgresql")
    pg = root / "pg"
    pg.mkdir()
    owner = _as_pg_user()
    if owner:
        os.chown(pg, owner["user"], owner["group"])
    run = {**owner, "check": True, "capture_output": True, "cwd": pg}
    _run(
        [
            initdb,
            "-D",
            str(pg / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ],
        run,
    )
    port = free_port()
    # Durability settings off: a throwaway cluster, and the tests' own crash tests kill the app, not this.
    options = f"-p {port} -h 127.0.0.1 -k {pg} -F -c synchronous_commit=off -c full_page_writes=off"
    _run(
        [
            pg_ctl,
            "-D",
            str(pg / "data"),
            "-l",
            str(pg / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-o",
            options,
            "start",
        ],
        run,
    )
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute("CREATE DATABASE test")
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"


def _start_redis(root: Path) -> str:
    server = _binary("redis-server", "redis-server")
    rd = root / "redis"
    rd.mkdir()
    port = free_port()
    _run(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(rd),
            "--daemonize",
            "yes",
            "--pidfile",
            str(rd / "redis.pid"),
            "--logfile",
            str(rd / "redis.log"),
        ],
        {"check": True, "capture_output": True},
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on {port}; see {rd}/redis.log") from None
            time.sleep(0.05)
        finally:
            client.close()
    return f"redis://127.0.0.1:{port}/0"


def _run(cmd: list[str], kwargs: dict) -> None:
    try:
        subprocess.run(cmd, **kwargs)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{Path(cmd[0]).name} failed: {(exc.stderr or b'').decode()[-2000:]}") from exc


def _clean_up(root: Path) -> None:
    """Stop whatever was started under `root`, then delete it (the watchdog's last act)."""
    if (root / "pg" / "data" / "postmaster.pid").exists():
        with contextlib.suppress(Exception):
            subprocess.run(
                [
                    _binary("pg_ctl", "postgresql"),
                    "-D",
                    str(root / "pg" / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                **_as_pg_user(),
                capture_output=True,
                timeout=60,
            )
    pidfile = root / "redis" / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(Exception):
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # it writes its log while shutting down: let it finish
                os.kill(pid, 0)  # raises once the process is gone
                time.sleep(0.05)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":  # python -m tests.support.services --watch DIR: the watchdog
    if sys.argv[1:2] != ["--watch"] or len(sys.argv) != 3:
        sys.exit("usage: python -m tests.support.services --watch DIR")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdin.buffer.read()  # returns when the test process closes the pipe or dies
    _clean_up(Path(sys.argv[2]))
