"""`/metrics`: Prometheus' text format, read back with prometheus_client's own parser."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cardsort_app import bootstrap, metrics
from cardsort_app.service import runtime
from cardsort_app.service.errors import Rejected
from cardsort_app.service.runtime import Runtime
from tests.service.helpers import step


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple], float]:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def test_metrics_count_commands_refusals_sessions_and_the_outbox(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    metrics.watch_runtime(rt)
    before = await scrape(client)
    r = await client.post("/api/sessions", json={"deck": "values-mini"})
    code = r.json()["code"]
    ann = await rt.service.join(code, "Ann")
    with pytest.raises(Rejected):  # step 1 is not finished: the rule refuses
        await step(rt, code, ann)
    await rt.relay.flush(code)

    after = await scrape(client)
    appended = ("cardsort_command_appended_seconds_count", ())
    assert after[appended] >= before.get(appended, 0) + 1  # the join (a command) was appended
    refused = ("cardsort_refused_commands_total", (("reason", "rejected"),))
    assert after[refused] == before.get(refused, 0) + 1
    assert after[("cardsort_sessions", ())] >= 1
    assert after[("cardsort_outbox_pending_rows", ())] == 0  # the relay published everything
    for name in ("cardsort_appended_pushed_seconds_count", "cardsort_bus_delivery_seconds_count"):
        assert (name, ()) in after  # exposed (observed by the live fan-out and the Ably bus)
    assert ("cardsort_connected_tabs", ()) in after


async def test_metrics_behind_a_token_when_one_is_set(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CARDSORT_METRICS_TOKEN reaches /metrics through the composition root (bootstrap.install)."""
    monkeypatch.setenv("CARDSORT_METRICS_TOKEN", "s3cret-scraper")
    monkeypatch.setattr(metrics, "_scrape_token", None)  # both put back after the test
    monkeypatch.setattr(runtime, "_factory", runtime._factory)
    bootstrap.install()
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = await client.get("/metrics", headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "CARDSORT_METRICS_TOKEN" in r.json()["error"] and "cardsort_" not in r.text
    r = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-scraper"})
    assert r.status_code == 200 and "cardsort_sessions" in r.text
