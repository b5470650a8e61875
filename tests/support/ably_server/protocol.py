"""Wire-level constants and codecs of the Ably realtime protocol (v5) as the `ably` 3.1.4 SDK speaks it.

Numbers are taken from the SDK source, not from memory: actions from
`ably/transport/websockettransport.py` (`ProtocolMessageAction`), flags from `ably/types/flags.py`,
presence actions from `ably/types/presence.py`.
"""

from __future__ import annotations

import base64
import json
from enum import IntEnum, IntFlag
from typing import Any

import msgpack


class Action(IntEnum):
    HEARTBEAT = 0
    ACK = 1
    NACK = 2
    CONNECT = 3
    CONNECTED = 4
    DISCONNECT = 5
    DISCONNECTED = 6
    CLOSE = 7
    CLOSED = 8
    ERROR = 9
    ATTACH = 10
    ATTACHED = 11
    DETACH = 12
    DETACHED = 13
    PRESENCE = 14
    MESSAGE = 15
    SYNC = 16
    AUTH = 17


class Flag(IntFlag):
    HAS_PRESENCE = 1 << 0
    HAS_BACKLOG = 1 << 1
    RESUMED = 1 << 2
    TRANSIENT = 1 << 4
    ATTACH_RESUME = 1 << 5
    PRESENCE = 1 << 16
    PUBLISH = 1 << 17
    SUBSCRIBE = 1 << 18
    PRESENCE_SUBSCRIBE = 1 << 19


MODE_FLAGS = Flag.PRESENCE | Flag.PUBLISH | Flag.SUBSCRIBE | Flag.PRESENCE_SUBSCRIBE


class PresenceAction(IntEnum):
    ABSENT = 0
    PRESENT = 1
    ENTER = 2
    LEAVE = 3
    UPDATE = 4


class AblyError(Exception):
    """An error the server reports in Ably's `{"message", "code", "statusCode"}` shape."""

    def __init__(self, code: int, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "statusCode": self.status,
            "href": f"https://help.ably.io/error/{self.code}",
        }


JSON = "json"
MSGPACK = "msgpack"
MSGPACK_MIME = "application/x-msgpack"
JSON_MIME = "application/json"


def decode(raw: bytes | str, fmt: str) -> Any:
    """Decode a frame or body; msgpack strings are UTF-8 (the SDK packs with `use_bin_type=True`)."""
    if fmt == MSGPACK:
        return msgpack.unpackb(raw, raw=False, strict_map_key=False)
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8")
    return json.loads(raw)


def encode(obj: Any, fmt: str) -> bytes | str:
    """Encode for the peer's format; JSON peers get binary payloads as base64 (see `for_json`)."""
    if fmt == MSGPACK:
        return msgpack.packb(obj, use_bin_type=True)
    return json.dumps(for_json(obj), separators=(",", ":"))


def for_json(obj: Any) -> Any:
    """Make a message tree JSON-safe the way Ably does: a bytes `data` becomes base64 + `encoding`."""
    if isinstance(obj, list):
        return [for_json(o) for o in obj]
    if isinstance(obj, dict):
        out = {k: for_json(v) for k, v in obj.items() if k != "data"}
        if "data" in obj:
            data = obj["data"]
            if isinstance(data, bytes | bytearray):
                out["data"] = base64.b64encode(bytes(data)).decode("ascii")
                enc = obj.get("encoding") or ""
                out["encoding"] = f"{enc}/base64" if enc else "base64"
            else:
                out["data"] = data
        return out
    if isinstance(obj, bytes | bytearray):
        return base64.b64encode(bytes(obj)).decode("ascii")
    return obj


def payload_size(msg: dict[str, Any]) -> int:
    """Size Ably counts against `maxMessageSize`: name + data + clientId + extras."""
    size = 0
    for key in ("name", "clientId"):
        value = msg.get(key)
        if isinstance(value, str):
            size += len(value.encode("utf-8"))
    data = msg.get("data")
    if isinstance(data, str):
        size += len(data.encode("utf-8"))
    elif isinstance(data, bytes | bytearray):
        size += len(data)
    elif data is not None:
        size += len(json.dumps(data))
    if msg.get("extras") is not None:
        size += len(json.dumps(for_json(msg["extras"])))
    return size
