"""The UI and REST layers use the service's public API -- `runtime.service` (commands), `runtime.queries`
and `runtime.feed` -- never the wiring behind it (store, bus, hub, presence, relay). import-linter checks
the modules they import; this checks the attributes they reach through the runtime."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cardsort_app

APP = Path(cardsort_app.__file__).parent
WIRING = {"store", "bus", "hub", "presence", "relay"}
ENTRY_POINTS = sorted([*APP.glob("ui/*.py"), *APP.glob("api/*.py")])


def _is_runtime(node: ast.expr) -> bool:
    """`rt`, `runtime`, `get_runtime()` or `<anything>.runtime`."""
    if isinstance(node, ast.Name):
        return node.id in {"rt", "runtime"}
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id == "get_runtime"
    return isinstance(node, ast.Attribute) and node.attr == "runtime"


def wiring_reached(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in WIRING and _is_runtime(node.value):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_check_finds_what_it_looks_for() -> None:
    lines = ["rt.hub.state(c)", "get_runtime().store.ping()", "self.runtime.presence.online(c)"]
    source = "\n".join([*lines, "rt.queries.state(c)", "rt.service.join(c)"])
    assert wiring_reached(source) == [
        "line 1: rt.hub",
        "line 2: get_runtime().store",
        "line 3: self.runtime.presence",
    ]


@pytest.mark.parametrize("path", ENTRY_POINTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_entry_points_use_only_the_service_api(path: Path) -> None:
    assert wiring_reached(path.read_text()) == []
