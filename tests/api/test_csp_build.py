"""The CSP pins the inline scripts of the build this process serves: Reflex's web directory, `.web` or
REFLEX_WEB_WORKDIR. Hashing another directory's pages (another app's build) blocks this app's own
hydration script, and every page goes dead while REST still answers."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from cardsort_app.api import protection


def _page(web: Path, script: bytes) -> str:
    client = web / "build" / "client"
    client.mkdir(parents=True)
    (client / "index.html").write_bytes(b"<html><script>" + script + b"</script><script src=/a.js></script>")
    return "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"


def test_the_hashes_come_from_the_web_directory_this_process_builds_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = tmp_path / "mine", tmp_path / "other"
    wanted = _page(mine, b"window.mine = 1")
    _page(other, b"window.other = 2")
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(mine))
    assert protection.build_dir() == mine / "build" / "client"
    assert protection.inline_script_hashes() == (wanted,)
    assert wanted in protection.content_security_policy(protection.inline_script_hashes())
