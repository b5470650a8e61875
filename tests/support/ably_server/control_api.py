"""The `/_control/` JSON API: another process drives the test server's faults and rules (`ControlClient`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .httpio import HttpRequest, HttpResponse, error_response, respond
from .protocol import AblyError
from .rest import _int

log = logging.getLogger(__name__)

#: Ably's rules a test may tune at run time (`/_control/rules`); see rules.py.
RULES = (
    "channel_rate_limit",
    "idempotency_window_ms",
    "max_message_size",
    "connection_state_ttl_ms",
    "presence_grace_ms",
)


class ControlApi:
    """Mixed into `AblyTestServer`."""

    async def _control(self, req: HttpRequest) -> tuple[HttpResponse, Callable[[], Awaitable[None]] | None]:
        """Tiny JSON API so another process can drive faults; params come from the query or a JSON body."""
        try:
            body = req.json_body() if req.body else {}
        except AblyError as err:
            return error_response(req, err), None
        params: dict[str, Any] = {**req.query, **(body if isinstance(body, dict) else {})}
        op = req.path[len("/_control/") :].strip("/")
        after: Callable[[], Awaitable[None]] | None = None
        result: Any = {"ok": True}
        try:
            if op == "info":
                result = {
                    "port": self.port,
                    "key": self.key,
                    "endpoint": self.endpoint,
                    "paused": self.paused,
                }
            elif op == "counters":
                result = self.counters.snapshot()
            elif op == "reset_counters":
                self.counters.reset()
            elif op == "faults":
                result = self.faults.describe()
            elif op == "rules":
                for name in RULES:
                    if name in params:
                        setattr(self, name, type(getattr(self, name))(params[name]))
                result = {name: getattr(self, name) for name in RULES}
            elif op == "reset_faults":
                self.reset_faults()
            elif op == "drop_connections":
                hold = float(params.get("hold_for", 0))

                async def drop() -> None:
                    await self.drop_connections(hold)

                after = drop
            elif op == "stop":
                seconds = float(params.get("seconds", 0))
                if seconds <= 0:
                    raise AblyError(40000, 400, "stop needs seconds > 0 (nothing could start it again)")

                async def outage() -> None:
                    await self.stop_for(seconds)

                after = outage
            elif op == "pause":
                self.pause_for(float(params["seconds"]))
            elif op == "unpause":
                self.unpause()
            elif op == "duplicate":
                if "next" in params:
                    self.duplicate_next(int(params["next"]))
                if "probability" in params:
                    self.duplicate_probability(float(params["probability"]))
            elif op == "lose":
                self.lose_next(int(params.get("next", 1)))
            elif op == "lose_ack":
                self.lose_ack_next(int(params.get("next", 1)))
            elif op == "nack":
                self.nack_next(int(params["code"]), int(params["status"]), int(params.get("next", 1)))
            elif op == "delay":
                self.delay(float(params["seconds"]))
            elif op == "reorder":
                self.reorder(int(params["window"]), float(params.get("flush_after", 0.25)))
            elif op == "publish":
                serial = self.publish(
                    str(params["channel"]),
                    params.get("name"),
                    params.get("data"),
                    id=params.get("id"),
                    client_id=params.get("clientId"),
                    extras=params.get("extras"),
                )
                result = {"serial": serial}
            elif op == "history":
                result = self.history(str(params["channel"]))
            elif op == "presence":
                result = self.presence_members(str(params["channel"]))
            elif op == "connections":
                result = self.connection_info()
            elif op == "token":
                token = self.auth.issue(
                    self.auth.default_key,
                    client_id=params.get("clientId"),
                    capability=params.get("capability"),
                    ttl_ms=_int(params.get("ttl"), None),
                )
                self.counters.tokens_issued += 1
                result = token.details()
            else:
                raise AblyError(40400, 404, f"Unknown control operation {op!r}")
        except AblyError as err:
            return error_response(req, err), None
        except (KeyError, ValueError, TypeError) as exc:
            return error_response(req, AblyError(40000, 400, f"Bad control request: {exc!r}")), None
        return respond(req, 200, result), after
