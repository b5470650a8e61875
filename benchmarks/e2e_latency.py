"""Step-change latency in real browsers: click in one tab -> the change shows in every other tab.

    python -m benchmarks.e2e_latency [--rounds 30] [--url http://127.0.0.1:3000]

Starts the app the way `make run` does (unless --url is given), joins three participants in three
Chromium contexts, and toggles one participant between step 1 and 2. Each observer tab timestamps the
moment the participant's `data-step` changes (MutationObserver, high-resolution clock shared by all tabs of
this machine); the latency is that moment minus the click. The in-tab optimistic update of the acting tab
(its board's data-step) is reported beside it as the reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from tests.e2e import helpers as h
from tests.support.app_server import CHROMIUM, CHROMIUM_ARGS, ROOT, AppServer, free_port

WATCH = """
(selector) => {
  window.__changes = [];
  const target = () => document.querySelector(selector);
  new MutationObserver(() => {
    const el = target();
    const step = el && el.getAttribute('data-step');
    if (step && step !== window.__lastStep) {
      window.__lastStep = step;
      window.__changes.push([step, performance.timeOrigin + performance.now()]);
    }
  }).observe(document, {subtree: true, attributes: true, childList: true, attributeFilter: ['data-step']});
  window.__lastStep = target() && target().getAttribute('data-step');
}
"""
CLICK = """(id) => { const t = performance.timeOrigin + performance.now();
                      document.querySelector(`[data-testid=${id}]`).click(); return t; }"""
OTHERS = '[data-testid=participant][data-participant-name="Actor"]'
OWN_BOARD = "[data-testid=board]"


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def _worker(page) -> str:
    return page.get_by_test_id("board").get_attribute("data-worker") or ""


def run(url: str, rounds: int, cross_worker: bool = False) -> dict[str, list[float]]:
    api = httpx.Client(base_url=url, timeout=10)
    session = h.create_session(api, title="latency")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        actor = h.join(browser.new_context(base_url=url), session.code, "Actor")
        observers = []
        for i in range(40):  # with --cluster only tabs whose websocket landed on another worker observe
            if len(observers) == 2:
                break
            page = h.join(browser.new_context(base_url=url), session.code, f"Obs{i}")
            if not cross_worker or _worker(page) != _worker(actor):
                observers.append(page)
        assert len(observers) == 2, "could not place two observers on another worker"
        pages = [actor, *observers]
        h.sort_step1(actor)
        actor.evaluate(WATCH, OWN_BOARD)  # the acting tab's own (optimistic) board
        for page in observers:
            page.evaluate(WATCH, OTHERS)
        remote: list[float] = []
        local: list[float] = []
        for i in range(rounds):
            expected = "2" if i % 2 == 0 else "1"
            before = [len(p.evaluate("window.__changes")) for p in pages]
            clicked = actor.evaluate(CLICK, "complete-step" if expected == "2" else "back-step")
            for page, n in zip(pages, before, strict=True):
                page.wait_for_function(f"window.__changes.length > {n}")
            local.append(actor.evaluate(f"window.__changes[{before[0]}][1]") - clicked)
            for page, n in zip(observers, before[1:], strict=True):
                step, at = page.evaluate(f"window.__changes[{n}]")
                assert step == expected
                remote.append(at - clicked)
        browser.close()
    return {"other tabs": remote, "acting tab": local}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--url")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="PostgreSQL + Redis + 3 workers + the local Ably server; observers sit on another worker",
    )
    args = parser.parse_args()
    server = None
    cleanup = []
    if args.cluster:
        import redis

        from tests.multiworker.conftest import REDIS_URL, AblyProcess, cluster_env
        from tests.support.databases import Database

        ably = AblyProcess()
        tmp = Path(tempfile.mkdtemp())
        db = Database("postgresql", tmp, prefix="bench_cluster")
        cleanup += [ably.close, db.drop]
        redis.Redis.from_url(REDIS_URL).flushdb()
        server = AppServer(free_port(), cluster_env(ably, db.url), tmp / "app.log")
        server.start()
    elif not args.url:
        tmp = Path(tempfile.mkdtemp())
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}", REFLEX_USE_SYSTEM_BUN="1")
        env["PATH"] = f"{ROOT / '.tools/node_modules/.bin'}:{Path(sys.executable).parent}:{env['PATH']}"
        server = AppServer(free_port(), env, tmp / "app.log")
        server.start()
    try:
        results = run(args.url or server.url, args.rounds, cross_worker=args.cluster)
    finally:
        if server:
            server.stop()
        for step in cleanup:
            step()
    where = "observers on another worker, via Ably" if args.cluster else "one worker"
    print(f"step change, click -> data-step changed ({args.rounds} rounds, 3 browsers, {where}), ms")
    print(f"{'':12}{'p50':>8}{'p90':>8}{'max':>8}{'mean':>8}")
    for name, values in results.items():
        print(
            f"{name:12}{_pct(values, 0.5):8.1f}{_pct(values, 0.9):8.1f}{max(values):8.1f}"
            f"{statistics.fmean(values):8.1f}"
        )
    ratio = _pct(results["other tabs"], 0.5) / _pct(results["acting tab"], 0.5)
    print(f"other tabs p50 / acting tab p50 (reference): {ratio:.2f}")


if __name__ == "__main__":
    main()
