"""`ControlClient`: drive a server in another process through its `/_control/` HTTP API."""

from __future__ import annotations

from typing import Any

import httpx


class ControlClient:
    """Synchronous control of a standalone server (``python -m tests.support.ably_server``).

    `endpoint` and `key` mirror `AblyTestServer`, so ``client_options(control, ...)`` works too.
    """

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._info: dict[str, Any] | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, op: str, method: str = "POST", **params: Any) -> Any:
        resp = self._http.request(
            method,
            f"/_control/{op}",
            json=params if method == "POST" else None,
            params=params if method == "GET" else None,
        )
        resp.raise_for_status()
        return resp.json()

    @property
    def info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self.call("info", "GET")
        return self._info

    @property
    def key(self) -> str:
        return str(self.info["key"])

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}/"

    def counters(self) -> dict[str, int]:
        return self.call("counters", "GET")

    def drop_connections(self, hold_for: float = 0.0) -> None:
        self.call("drop_connections", hold_for=hold_for)

    def stop_for(self, seconds: float) -> None:
        """Stop the server now and have it start again on the same port after `seconds`."""
        self.call("stop", seconds=seconds)

    def pause_for(self, seconds: float) -> None:
        self.call("pause", seconds=seconds)

    def duplicate_next(self, n: int = 1) -> None:
        self.call("duplicate", next=n)

    def duplicate_probability(self, p: float) -> None:
        self.call("duplicate", probability=p)

    def lose_next(self, n: int = 1) -> None:
        self.call("lose", next=n)

    def lose_ack_next(self, n: int = 1) -> None:
        self.call("lose_ack", next=n)

    def delay(self, seconds: float) -> None:
        self.call("delay", seconds=seconds)

    def reorder(self, window: int, flush_after: float = 0.25) -> None:
        self.call("reorder", window=window, flush_after=flush_after)

    def nack_next(self, code: int, status: int, n: int = 1) -> None:
        self.call("nack", code=code, status=status, next=n)

    def reset_faults(self) -> None:
        self.call("reset_faults")

    def publish(
        self, channel: str, name: str | None = None, data: Any = None, *, id: str | None = None
    ) -> str:
        return str(self.call("publish", channel=channel, name=name, data=data, id=id)["serial"])

    def rules(self, **changes: Any) -> dict[str, Any]:
        """Read (and change) Ably's rules the server enforces, e.g. ``rules(channel_rate_limit=20)``."""
        return self.call("rules", **changes)

    def history(self, channel: str) -> list[dict[str, Any]]:
        return self.call("history", "GET", channel=channel)

    def token(self, client_id: str | None = None, capability: Any = None, ttl_ms: int | None = None) -> dict:
        return self.call("token", clientId=client_id, capability=capability, ttl=ttl_ms)
