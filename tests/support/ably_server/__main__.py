"""Run the test server standalone: ``python -m tests.support.ably_server --port 0``.

The first stdout line is ``PORT=<n>`` and the second ``KEY=<appId.keyId:secret>``; it serves on
127.0.0.1 until SIGINT/SIGTERM. Drive it from tests with `ControlClient` (the `/_control/` API).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .server import AblyTestServer


async def serve(args: argparse.Namespace) -> None:
    server = AblyTestServer(
        args.port,
        key_id=args.key_id,
        key_secret=args.key_secret,
        max_idle_interval_ms=args.max_idle_interval_ms,
        connection_state_ttl_ms=args.connection_state_ttl_ms,
        presence_grace_ms=args.presence_grace_ms,
        max_message_size=args.max_message_size,
        idempotency_window_ms=args.idempotency_window_ms,
        channel_rate_limit=args.channel_rate_limit,
        seed=args.seed,
    )
    await server.start()
    print(f"PORT={server.port}", flush=True)
    print(f"KEY={server.key}", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, done.set)
    try:
        await done.wait()
    finally:
        await server.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.ably_server", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    parser.add_argument("--key-id", default="testkey")
    parser.add_argument("--key-secret", default="testsecret")
    parser.add_argument("--max-idle-interval-ms", type=int, default=15_000)
    parser.add_argument("--connection-state-ttl-ms", type=int, default=120_000)
    parser.add_argument("--presence-grace-ms", type=int, default=15_000)
    parser.add_argument("--max-message-size", type=int, default=65_536, help="bytes per publish (40009)")
    parser.add_argument("--idempotency-window-ms", type=int, default=120_000)
    parser.add_argument(
        "--channel-rate-limit", type=float, default=50.0, help="messages/s per channel (42913); 0 = off"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for the duplicate/reorder faults")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
