"""The Ably key stays on the server: nothing a browser can load contains it."""

from __future__ import annotations

from tests.support.app_server import ROOT


def test_the_ably_key_is_not_in_the_frontend(cluster, cluster_api, ably) -> None:
    secret = ably.key.split(":", 1)[1]
    key_name = ably.key.split(":", 1)[0]
    built = [p for p in (ROOT / ".web").rglob("*") if p.is_file() and "node_modules" not in p.parts]
    assert any(p.suffix == ".js" for p in built), "no frontend bundle found to search"
    for path in built:
        text = path.read_bytes()
        assert secret.encode() not in text, f"the Ably key secret leaked into {path}"
        assert key_name.encode() not in text, f"the Ably key name leaked into {path}"
    # What is actually served: the page and every script it loads.
    html = cluster_api.get("/").text
    assert secret not in html and key_name not in html
    for line in html.split('"'):
        if line.endswith(".js") and line.startswith("/"):
            assert secret not in cluster_api.get(line).text
