"""Production metrics in Prometheus' text format, served at `/metrics` (see the README for a scrape).

Timings are observed where they happen (the service's write path, the live fan-out, the bus); the gauges
are read when scraped, from sources the layers that own them register here, so this module depends on
nothing of the app. One registry per process: with several workers each answers for itself (a scrape
reaches whichever worker accepts it; scrape each worker's port, or run one worker per container).
"""

from __future__ import annotations

import hmac
import logging
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
#: What a scrape must present as its bearer token (CARDSORT_METRICS_TOKEN, set by the composition root);
#: None: /metrics is open.
_scrape_token: str | None = None


def require_token(token: str | None) -> None:
    """From now on a scrape must present ``token`` (None: anyone may scrape)."""
    global _scrape_token
    _scrape_token = token


def scrape_allowed(credential: str | None) -> bool:
    """Whether a scrape presenting ``credential`` may read the metrics (compared in constant time)."""
    if _scrape_token is None:
        return True
    return hmac.compare_digest((credential or "").encode(), _scrape_token.encode())


# Seconds: from 0.5 ms (an in-memory step) to 5 s (a stalled database), roughly doubling.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

COMMAND_APPENDED = Histogram(
    "cardsort_command_appended_seconds",
    "A command from its arrival at the service until its event is appended to the log (committed).",
    buckets=_BUCKETS,
    registry=REGISTRY,
)
APPENDED_PUSHED = Histogram(
    "cardsort_appended_pushed_seconds",
    "An event applied to this worker's projection until every local tab of its session was sent the change.",
    buckets=_BUCKETS,
    registry=REGISTRY,
)
BUS_DELIVERY = Histogram(
    "cardsort_bus_delivery_seconds",
    "An event published on the bus by another worker until this worker received it (bus clock).",
    buckets=_BUCKETS,
    registry=REGISTRY,
)
REFUSED = Counter(
    "cardsort_refused_commands",
    "Commands refused, by reason (rejected: a rule; forbidden: not allowed; not_found: no such session).",
    ["reason"],
    registry=REGISTRY,
)
SESSIONS = Gauge("cardsort_sessions", "Sessions loaded in this worker.", registry=REGISTRY)
TABS = Gauge(
    "cardsort_connected_tabs", "Browser tabs with a live connection to this worker.", registry=REGISTRY
)
TAB_STATES = Gauge(
    "cardsort_tab_states",
    "Tabs whose Reflex state this worker holds in memory (connected, or closed within the grace period).",
    registry=REGISTRY,
)
TAB_RECORDS = Gauge(
    "cardsort_tab_records",
    "Tabs this worker's live registry remembers (connected, or closed and remembered for a reconnect).",
    registry=REGISTRY,
)
OUTBOX = Gauge(
    "cardsort_outbox_pending_rows",
    "Appended events not yet published on the bus (all workers).",
    registry=REGISTRY,
)

PYTHON_HEAP = Gauge(
    "cardsort_python_heap_bytes",
    "Bytes of Python objects this worker holds, as tracemalloc traces them: 0 unless the worker runs with "
    "PYTHONTRACEMALLOC set (a measuring aid: tracing slows the process; benchmarks/memory.py --heap).",
    registry=REGISTRY,
)

#: Gauge readers, registered by the layers that know the values (a reader may be async).
_sources: dict[Gauge, Callable[[], int | Awaitable[int]]] = {
    PYTHON_HEAP: lambda: tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
}


def source(gauge: Gauge, read: Callable[[], int | Awaitable[int]]) -> None:
    """Read `gauge` from `read()` at every scrape (the newest registration wins)."""
    _sources[gauge] = read


def watch_runtime(runtime: Any) -> None:
    """The service's gauges, read through its queries: sessions loaded here, the outbox."""
    source(SESSIONS, runtime.queries.loaded_sessions)
    source(OUTBOX, runtime.queries.outbox_size)


def refused(reason: str) -> None:
    REFUSED.labels(reason=reason).inc()


async def render() -> tuple[bytes, str]:
    """The scrape body and its content type, with every gauge read now."""
    for gauge, read in list(_sources.items()):
        try:
            value = read()
            if isinstance(value, Awaitable):
                value = await value
            gauge.set(value)
        except Exception:  # a metric must never break the scrape (e.g. the database is down)
            log.warning("metrics: reading %s failed", gauge._name, exc_info=True)
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
