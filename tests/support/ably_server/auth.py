"""Keys, token requests, tokens and capabilities, checked the way Ably checks them.

The token-request MAC is the one `ably.types.tokenrequest.TokenRequest.sign_request` computes:
HMAC-SHA256 over `keyName, ttl, capability, clientId, timestamp, nonce` joined by newlines (plus a
trailing newline), base64-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .protocol import AblyError

OPERATIONS = frozenset({"publish", "subscribe", "presence", "history", "channel-metadata"})
DEFAULT_TOKEN_TTL_MS = 60 * 60 * 1000
MAX_TOKEN_TTL_MS = 24 * 60 * 60 * 1000
TIMESTAMP_TOLERANCE_MS = 10 * 60 * 1000


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_capability(value: str | dict[str, Any] | None) -> dict[str, set[str]]:
    """Turn `{"chan": ["op"]}` (or its JSON string) into resource -> ops; `None` means everything."""
    if value is None or value == "":
        return {"*": {"*"}}
    raw = json.loads(value) if isinstance(value, str) else value
    if not isinstance(raw, dict):
        raise AblyError(40000, 400, "Invalid capability: expected a JSON object")
    out: dict[str, set[str]] = {}
    for resource, ops in raw.items():
        ops_list = [ops] if isinstance(ops, str) else list(ops)
        for op in ops_list:
            if op != "*" and op not in OPERATIONS:
                raise AblyError(40000, 400, f"Invalid capability operation {op!r}")
        out[str(resource)] = set(ops_list)
    return out


def capability_json(cap: dict[str, set[str]]) -> str:
    return json.dumps({k: sorted(v) for k, v in sorted(cap.items())}, separators=(",", ":"))


def resource_matches(resource: str, channel: str) -> bool:
    """`*` matches every channel, `ns:*` (any `prefix*`) matches by prefix, otherwise exact match."""
    if resource.endswith("*"):
        return channel.startswith(resource[:-1])
    return resource == channel


def allows(cap: dict[str, set[str]], channel: str, op: str) -> bool:
    for resource, ops in cap.items():
        if resource_matches(resource, channel) and ("*" in ops or op in ops):
            return True
    return False


def allows_any(cap: dict[str, set[str]], channel: str) -> bool:
    return any(resource_matches(resource, channel) and ops for resource, ops in cap.items())


@dataclass
class ApiKey:
    """An API key `appId.keyId:secret`; its capability bounds every token it issues."""

    name: str
    secret: str
    capability: dict[str, set[str]] = field(default_factory=lambda: {"*": {"*"}})

    @property
    def key(self) -> str:
        return f"{self.name}:{self.secret}"


@dataclass
class Token:
    token: str
    key_name: str
    issued: int
    expires: int
    capability: dict[str, set[str]]
    client_id: str | None

    def details(self) -> dict[str, Any]:
        """TokenDetails as Ably's REST API returns it (capability as a JSON string)."""
        out: dict[str, Any] = {
            "token": self.token,
            "keyName": self.key_name,
            "issued": self.issued,
            "expires": self.expires,
            "capability": capability_json(self.capability),
        }
        if self.client_id is not None:
            out["clientId"] = self.client_id
        return out


@dataclass
class Credentials:
    """What a request or connection authenticated as."""

    key: ApiKey
    token: Token | None
    client_id: str | None

    @property
    def is_token(self) -> bool:
        return self.token is not None

    def can(self, channel: str, op: str) -> bool:
        if not allows(self.key.capability, channel, op):
            return False
        return self.token is None or allows(self.token.capability, channel, op)

    def can_attach(self, channel: str) -> bool:
        if not allows_any(self.key.capability, channel):
            return False
        return self.token is None or allows_any(self.token.capability, channel)

    def may_use_client_id(self, client_id: str | None) -> bool:
        """Basic-auth clients may name any clientId; token clients only their own (or any with `*`)."""
        if client_id is None:
            return True
        if self.client_id == "*":
            return True
        if self.client_id is None:
            return not self.is_token
        return client_id == self.client_id


def mac_for(secret: str, req: dict[str, Any]) -> str:
    parts = [
        req.get("keyName") or "",
        req.get("ttl") or "",
        req.get("capability") or "",
        req.get("clientId") or "",
        f"{req.get('timestamp') or 0}",
        req.get("nonce") or "",
        "",
    ]
    text = "\n".join(str(p) for p in parts).encode("utf-8")
    return base64.b64encode(hmac.new(secret.encode("utf-8"), text, hashlib.sha256).digest()).decode()


class AuthRegistry:
    """Keys and issued tokens; kept across server stop/start like the real service keeps them."""

    def __init__(self, app_id: str, key_id: str, secret: str) -> None:
        self.app_id = app_id
        self.keys: dict[str, ApiKey] = {}
        self.tokens: dict[str, Token] = {}
        self._nonces: set[tuple[str, str]] = set()
        self.default_key = self.add_key(key_id, secret)

    def add_key(self, key_id: str | None = None, secret: str | None = None, capability: Any = None) -> ApiKey:
        key = ApiKey(
            name=f"{self.app_id}.{key_id or secrets.token_hex(3)}",
            secret=secret or secrets.token_urlsafe(18),
            capability=parse_capability(capability),
        )
        self.keys[key.name] = key
        return key

    def key_for(self, key_name: str) -> ApiKey:
        key = self.keys.get(key_name)
        if key is None:
            raise AblyError(40400, 404, f"No key found with name {key_name!r}")
        return key

    def check_key(self, key_string: str, client_id: str | None = None) -> Credentials:
        name, _, secret = key_string.partition(":")
        key = self.keys.get(name)
        if key is None or not hmac.compare_digest(key.secret, secret):
            raise AblyError(40101, 401, "Invalid credentials (key not recognised or wrong secret)")
        if client_id == "*":
            raise AblyError(40012, 400, "Wildcard clientId is not allowed with basic auth")
        return Credentials(key=key, token=None, client_id=client_id)

    def check_token(self, token_string: str) -> Credentials:
        token = self.tokens.get(token_string)
        if token is None:
            raise AblyError(40141, 401, "Token not recognised (revoked, or issued by another server)")
        if token.expires <= now_ms():
            raise AblyError(40142, 401, "Token expired")
        key = self.keys.get(token.key_name)
        if key is None:
            raise AblyError(40141, 401, "Token's key was revoked")
        return Credentials(key=key, token=token, client_id=token.client_id)

    def issue(
        self,
        key: ApiKey,
        *,
        client_id: str | None = None,
        capability: Any = None,
        ttl_ms: int | None = None,
    ) -> Token:
        ttl = int(ttl_ms) if ttl_ms else DEFAULT_TOKEN_TTL_MS
        if ttl <= 0 or ttl > MAX_TOKEN_TTL_MS:
            raise AblyError(40003, 400, f"Invalid ttl {ttl}")
        cap = parse_capability(capability) if capability is not None else dict(key.capability)
        issued = now_ms()
        token = Token(
            token=secrets.token_urlsafe(24),
            key_name=key.name,
            issued=issued,
            expires=issued + ttl,
            capability=cap,
            client_id=client_id,
        )
        self.tokens[token.token] = token
        return token

    def request_token(self, key_name: str, body: dict[str, Any], basic: Credentials | None) -> Token:
        """POST /keys/{keyName}/requestToken: a signed token request, or an unsigned one with basic auth."""
        key = self.key_for(key_name)
        if body.get("keyName") not in (None, key_name):
            raise AblyError(40102, 401, "Token request keyName does not match the URL")
        if body.get("mac"):
            expected = mac_for(key.secret, {**body, "keyName": key_name})
            if not hmac.compare_digest(expected, str(body["mac"])):
                raise AblyError(40101, 401, "Token request signature (mac) is invalid")
            timestamp = int(body.get("timestamp") or 0)
            if abs(now_ms() - timestamp) > TIMESTAMP_TOLERANCE_MS:
                raise AblyError(40104, 401, "Timestamp not current")
            nonce = str(body.get("nonce") or "")
            if len(nonce) < 16:
                raise AblyError(40000, 400, "Nonce must be at least 16 characters")
            if (key_name, nonce) in self._nonces:
                raise AblyError(40105, 401, "Nonce value replayed")
            self._nonces.add((key_name, nonce))
        elif basic is None or basic.key.name != key_name:
            raise AblyError(40101, 401, "Unsigned token request needs basic auth with the same key")
        return self.issue(
            key,
            client_id=body.get("clientId"),
            capability=body.get("capability"),
            ttl_ms=body.get("ttl"),
        )
