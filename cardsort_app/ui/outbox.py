"""Reflex side of the command outbox (cardsort_outbox.jsx): clicks resent until acknowledged.

A control calls `command(name, *args)`: the browser gives the click an id, keeps it, and sends it to the
page state's `send_commands` (ui/resend.py) until that state's `command_acks` answers it. `command_outbox`
feeds the outbox and shows `commands-pending` while a command waits for its answer.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.utils.imports import ImportVar
from reflex.vars import Var, VarData
from reflex.vars.function import ArgsFunctionOperation, FunctionStringVar
from reflex_components_core.core.banner import connection_errors_count

LIBRARY = "$/public" + rx.asset("cardsort_outbox.jsx", shared=True)


def js_function(library: str, function: str) -> FunctionStringVar:
    """A function exported by one of our JSX modules, imported where it is used."""
    return FunctionStringVar.create(function, _var_data=VarData(imports={library: [ImportVar(tag=function)]}))


def js_call(library: str, function: str, *args: Any) -> Var:
    """A browser-side handler: `() => function(args...)` (no server round trip of its own)."""
    return ArgsFunctionOperation.create((), js_function(library, function).call(*args))


def command(name: str, *args: Any) -> Var:
    """A click's command for the page state's `send_commands`, resent until acknowledged."""
    return js_call(LIBRARY, "sendCommand", name, *args)


def command_taking(name: str) -> Var:
    """`(value) => sendCommand(name, value)`: a command whose argument is the trigger's (a drop's payload)."""
    value = Var(_js_expr="value")
    return ArgsFunctionOperation.create(("value",), js_function(LIBRARY, "sendCommand").call(name, value))


def input_value(element_id: str) -> Var:
    """What an input holds when the click happens (not the state's copy, which a lost frame leaves behind)."""
    return js_function(LIBRARY, "inputValue").call(element_id)


class CommandOutbox(rx.Component):
    library = LIBRARY
    tag = "CommandOutbox"
    scope: rx.Var[str]
    code: rx.Var[str]
    ready: rx.Var[bool]
    acks: rx.Var[dict[str, Any]]
    socket_errors: rx.Var[int]
    on_send: rx.EventHandler[lambda batch: [batch]]


def command_outbox(state: Any, scope: str, ready: Var) -> rx.Component:
    """The outbox of a page whose state uses ResentCommands (ui/resend.py)."""
    return CommandOutbox.create(
        scope=scope,
        code=state.session_code,
        ready=ready,
        acks=state.command_acks,
        socket_errors=connection_errors_count.to(int),
        on_send=state.send_commands,
    )
