"""A check in front of Reflex's event dispatch: a websocket frame that no browser of this app can send is
dropped (logged) before Reflex tries to run it.

Reflex itself raises on such frames (a payload that is not an object, argument names the handler does not
take, `setvar` of a var without a setter, client-storage updates for vars that do not exist), which shows
the browser the generic "An error occurred". Our own handlers validate their values themselves (guard.py);
this covers the framework's handlers too, which we cannot change: each frame must name a registered
handler, carry an object whose keys bind to the handler's parameters, and, for the framework's var-setting
handlers, name only vars that can be set that way.
"""

from __future__ import annotations

import inspect
import json
import logging
from functools import cache
from typing import Any

import reflex as rx
from reflex.state import State
from reflex_base.constants.state import FIELD_MARKER
from reflex_base.utils.format import format_event_handler

log = logging.getLogger(__name__)

#: The handlers whose arguments name vars; their names are checked against the state tree.
_VARS_ARGUMENT = {"update_vars_internal": "vars", "hydrate_and_load": "vars"}
#: Argument types of the framework's own handlers (ours check their values themselves; see guard.py).
_FRAMEWORK_ARGS: dict[str, dict[str, tuple[type, ...]]] = {
    "setvar": {"var_name": (str,)},
    "set_is_hydrated": {"value": (bool,)},
    "hydrate_and_load": {"vars": (dict, type(None)), "hashes": (list, type(None))},
    "update_vars_internal": {"vars": (dict,)},
    "handle_frontend_exception": {"info": (str,), "component_stack": (str,)},
}
MAX_FRAMEWORK_TEXT = 20_000


def _walk(cls: type[rx.State]):
    yield cls
    for sub in cls.get_substates():
        yield from _walk(sub)


@cache
def handlers() -> dict[str, tuple[type[rx.State], str, inspect.Signature]]:
    """Every registered event handler of the app: wire name -> (state class, name, signature)."""
    found = {}
    for cls in _walk(State):
        for name, handler in cls.event_handlers.items():
            found[format_event_handler(handler)] = (cls, name, inspect.signature(handler.fn))
    return found


def _client_storage_var(full_name: Any) -> bool:
    if not isinstance(full_name, str):
        return False
    state_name, _, var_name = full_name.rpartition(".")
    try:
        cls = State.get_class_substate(state_name)
    except ValueError:
        return False
    return cls._is_client_storage(var_name.removesuffix(FIELD_MARKER))


def refusal(data: Any) -> str | None:
    """Why the frame `data` cannot be dispatched, or None when it can."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return "not JSON"
    if not isinstance(data, dict):
        return "not an object"
    found = handlers().get(data.get("name"))  # type: ignore[arg-type]
    if found is None:
        return "no such handler"
    cls, name, signature = found
    payload = data.get("payload", {})
    if not isinstance(payload, dict) or not all(isinstance(k, str) for k in payload):
        return "payload is not an object"
    try:
        signature.bind(None, **payload)
    except TypeError as exc:
        return f"arguments do not fit: {exc}"
    if not isinstance(data.get("router_data", {}), dict):
        return "router_data is not an object"
    if not cls.__module__.startswith("cardsort_app."):
        for arg, types in _FRAMEWORK_ARGS.get(name, {}).items():
            value = payload.get(arg)
            if arg in payload and not isinstance(value, types):
                return f"{arg} is not {types[0].__name__}"
            if isinstance(value, str) and len(value) > MAX_FRAMEWORK_TEXT:
                return f"{arg} is too long"
    if name == "setvar":
        var_name = payload.get("var_name")
        if not isinstance(var_name, str) or f"set_{var_name}" not in cls.event_handlers:
            return "setvar of a var without a setter"
    arg = _VARS_ARGUMENT.get(name)
    if arg is not None and payload.get(arg) is not None:
        values = payload[arg]
        if not isinstance(values, dict) or not all(_client_storage_var(k) for k in values):
            return "vars that are not client storage"
    return None


def install(app: Any) -> None:
    """Put `refusal` in front of the app's websocket event handler (and its connect-time boot event)."""
    namespace = app.event_namespace
    if namespace is None or getattr(namespace, "_cardsort_firewall", False):
        return
    original = namespace.on_event

    async def on_event(sid: str, data: Any) -> Any:
        why = refusal(data)
        if why is not None:
            name = data.get("name") if isinstance(data, dict) else None
            log.info("dropped a websocket event (%s): %.100r", why, name)
            return None
        return await original(sid, data)

    namespace.on_event = on_event
    namespace._cardsort_firewall = True
