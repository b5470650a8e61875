"""The browser's identities, kept in localStorage: a reload, a second tab or a later visit of the same
browser is the same participant (and the same facilitator), never a new one.

IdentityState is also the base of every page state, and makes every handler of its substates safe to
call with any arguments (see guard.py): its helpers are private, because a public method is an endpoint.
"""

from __future__ import annotations

import json
from typing import Any

import reflex as rx
from reflex.event import EventHandler
from reflex.state import EventHandlerSetVar

from cardsort_app.service.sessions import Identity
from cardsort_app.ui.guard import MALFORMED, guarded, overrides_reflex

#: localStorage values a browser sends back are untrusted: anything longer is ignored.
MAX_STORED_CHARS = 64 * 1024
MAX_SECRET_CHARS = 200


def _load(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, str) or len(raw) > MAX_STORED_CHARS:
        return {}
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _short_text(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_SECRET_CHARS else None


class _GuardedSetVar(EventHandlerSetVar):
    """Reflex's built-in `setvar(name, value)` handler, answering an unknown var or malformed call with
    a message instead of an exception."""

    def __init__(self, state_cls: type[rx.State]) -> None:
        EventHandler.__init__(self, fn=guarded(_GuardedSetVar.setvar), state=state_cls)

    def setvar(self, var_name: str, value: Any):  # `self` is the state instance here
        setter = f"set_{var_name}" if isinstance(var_name, str) else ""
        if setter not in type(self).event_handlers:
            refuse = getattr(self, "_refuse_malformed", None)
            if refuse is not None:
                refuse(MALFORMED)
            return None
        return getattr(self, setter)(value)


class IdentityState(rx.State):
    # {code: {"pid": ..., "secret": ...}} — the secret proves the id to the server.
    identities: str = rx.LocalStorage("{}", name="cardsort_identities", sync=True)
    # {code: facilitator key}
    facilitator_keys: str = rx.LocalStorage("{}", name="cardsort_facilitator_keys", sync=True)

    # --- every handler of every substate is guarded -----------------------------------------------------
    @classmethod
    @overrides_reflex
    def _create_event_handler(cls, fn: Any, event_handler_cls: type[EventHandler] = EventHandler):
        return super()._create_event_handler(guarded(fn), event_handler_cls)

    @classmethod
    @overrides_reflex
    def _create_setvar(cls) -> None:
        cls.setvar = cls.event_handlers["setvar"] = _GuardedSetVar(state_cls=cls)

    def _refuse_malformed(self, message: str) -> None:
        """How a page shows a refused call (overridden by pages with a notice area)."""

    # --- the stored identities ------------------------------------------------------------------------
    def _identity_for(self, code: str) -> Identity | None:
        entry = _load(self.identities).get(code)
        if not isinstance(entry, dict):
            return None
        pid, secret = _short_text(entry.get("pid")), _short_text(entry.get("secret"))
        return Identity(pid, secret) if pid and secret else None

    def _remember_identity(self, code: str, identity: Identity) -> None:
        data = _load(self.identities)
        data[code] = {"pid": identity.participant_id, "secret": identity.secret}
        self.identities = json.dumps(data)

    def _facilitator_key_for(self, code: str) -> str | None:
        return _short_text(_load(self.facilitator_keys).get(code))

    def _remember_facilitator_key(self, code: str, key: str) -> None:
        data = _load(self.facilitator_keys)
        data[code] = key
        self.facilitator_keys = json.dumps(data)
