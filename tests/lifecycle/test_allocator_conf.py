"""The server's allocator setting is the same wherever the app is started: `make run` (the Makefile), the
tests' and benchmarks' app (tests/support/app_server.py) and the README's configuration table."""

from __future__ import annotations

import re

from tests.support.app_server import JEMALLOC_CONF, ROOT


def test_the_makefile_the_test_app_and_the_readme_give_granian_the_same_jemalloc_setting() -> None:
    makefile = re.search(r"^export _RJEM_MALLOC_CONF \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    readme = re.search(r"^\| `_RJEM_MALLOC_CONF` \| `([^`]+)`", (ROOT / "README.md").read_text(), re.M)
    assert makefile is not None and readme is not None
    assert makefile.group(1) == JEMALLOC_CONF == readme.group(1)
    # Freed pages go back at once: the purging thread that would honour a decay period is not in the worker.
    assert "dirty_decay_ms:0" in JEMALLOC_CONF.split(",")
