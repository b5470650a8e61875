"""Step-change latency in real browsers: click in one tab -> the change shows in every other tab.

    python -m benchmarks.e2e_latency [--rounds 30] [--url http://127.0.0.1:3000]

Starts the app the way `make run` does (unless --url is given), joins participants in their own
Chromium contexts, and toggles one participant between step 1 and 2. With --cluster (PostgreSQL + Redis
+ 2 workers + the local Ably server) two observers sit on the actor's worker and two on another one, so
the cross-worker figure is compared with the one-worker figure of the same run. Each observer tab
timestamps the moment the participant's `data-step` changes (MutationObserver, high-resolution clock
shared by all tabs of this machine); the latency is that moment minus the click. The in-tab optimistic
update of the acting tab (its board's data-step) is reported beside it as the reference.
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


def _join(ctx, code: str, name: str):
    """`tests.e2e.helpers.join` with a patient wait: on a busy machine a cluster's first render is slow."""
    page = ctx.new_page()
    page.goto("/")
    page.get_by_test_id("join-code").fill(code)
    page.get_by_test_id("join-name").fill(name)
    page.get_by_test_id("join-submit").click()
    page.get_by_test_id("board").wait_for(timeout=60_000)
    return page


def _worker(page) -> str:
    return page.get_by_test_id("board").get_attribute("data-worker") or ""


def run(url: str, rounds: int, cross_worker: bool = False) -> dict[str, list[float]]:
    """Latencies per group of tabs. One worker: "other tabs" (2 observers). --cluster: "same worker"
    (2 observers on the actor's worker: the one-worker figure of this very run) and "other worker"
    (2 observers whose websocket landed on another worker: one Ably hop more)."""
    api = httpx.Client(base_url=url, timeout=10)
    session = h.create_session(api, title="latency")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # The app's CSP forbids string evaluation, which Playwright's wait_for_function polls with.
        actor = _join(browser.new_context(base_url=url, bypass_csp=True), session.code, "Actor")
        groups: dict[str, list] = (
            {"same worker": [], "other worker": []} if cross_worker else {"other tabs": []}
        )
        for i in range(60):  # tabs land on a worker by chance: keep those that fill a group
            if all(len(g) == 2 for g in groups.values()):
                break
            page = _join(browser.new_context(base_url=url, bypass_csp=True), session.code, f"Obs{i}")
            group = (
                ("same worker" if _worker(page) == _worker(actor) else "other worker")
                if cross_worker
                else "other tabs"
            )
            if len(groups[group]) < 2:
                groups[group].append(page)
            else:
                page.context.close()
        assert all(len(g) == 2 for g in groups.values()), f"could not place the observers: {groups}"
        observers = [p for g in groups.values() for p in g]
        names = [name for name, g in groups.items() for _ in g]
        pages = [actor, *observers]
        h.sort_step1(actor)
        actor.evaluate(WATCH, OWN_BOARD)  # the acting tab's own (optimistic) board
        for page in observers:
            page.evaluate(WATCH, OTHERS)
        results: dict[str, list[float]] = {name: [] for name in groups}
        local: list[float] = []
        for i in range(rounds):
            expected = "2" if i % 2 == 0 else "1"
            before = [len(p.evaluate("window.__changes")) for p in pages]
            clicked = actor.evaluate(CLICK, "complete-step" if expected == "2" else "back-step")
            for page, n in zip(pages, before, strict=True):
                page.wait_for_function(f"window.__changes.length > {n}")
            local.append(actor.evaluate(f"window.__changes[{before[0]}][1]") - clicked)
            for page, n, name in zip(observers, before[1:], names, strict=True):
                step, at = page.evaluate(f"window.__changes[{n}]")
                assert step == expected
                results[name].append(at - clicked)
        browser.close()
    return {**results, "acting tab": local}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--url")
    parser.add_argument("--quick", action="store_true", help="3 rounds: checks that the benchmark runs")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="PostgreSQL + Redis + 2 workers + the local Ably server; 2 observers per worker",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds = 3
    server = None
    cleanup = []
    if args.cluster:
        import redis

        from tests.multiworker.conftest import AblyProcess, cluster_env
        from tests.support.databases import Database
        from tests.support.services import redis_url

        ably = AblyProcess()
        tmp = Path(tempfile.mkdtemp())
        db = Database("postgresql", tmp, prefix="bench_cluster")
        cleanup += [ably.close, db.drop]
        redis.Redis.from_url(redis_url()).flushdb()
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
    where = "2 observers on the actor's worker, 2 on another (via Ably)" if args.cluster else "one worker"
    print(f"step change, click -> data-step changed ({args.rounds} rounds, {where}), ms")
    print(f"{'':12}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}{'mean':>8}")  # issue 10: p50 <= 15, p99 <= 40
    for name, values in results.items():
        print(
            f"{name:12}{_pct(values, 0.5):8.1f}{_pct(values, 0.9):8.1f}{_pct(values, 0.99):8.1f}"
            f"{max(values):8.1f}{statistics.fmean(values):8.1f}"
        )
    if args.cluster:
        ratio = _pct(results["other worker"], 0.5) / _pct(results["same worker"], 0.5)
        print(f"other worker p50 / same worker p50 (same run): {ratio:.2f}")
    else:
        ratio = _pct(results["other tabs"], 0.5) / _pct(results["acting tab"], 0.5)
        print(f"other tabs p50 / acting tab p50 (reference): {ratio:.2f}")


if __name__ == "__main__":
    main()
