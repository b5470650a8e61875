"""The domain stays pure: stdlib + pydantic only, so it runs without Reflex, a database or a network."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cardsort_app.domain

DOMAIN = Path(cardsort_app.domain.__file__).parent
FORBIDDEN = {
    "reflex",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "httpx",
    "ably",
    "socket",
    "asyncio",
    "ssl",
    "http",
    "urllib",
    "requests",
    "aiohttp",
    "websockets",
    "redis",
    "psycopg",
    "starlette",
    "fastapi",
    "subprocess",
    "sqlite3",
}
ALLOWED_THIRD_PARTY = {"pydantic", "pydantic_core", "typing_extensions"}


def imported_modules(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports stay inside the domain package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def domain_files() -> list[Path]:
    files = sorted(DOMAIN.rglob("*.py"))
    assert len(files) >= 7, files
    return files


def test_domain_imports_no_io_or_framework_modules() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in domain_files()
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    }
    assert not offenders


def test_domain_imports_only_stdlib_pydantic_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | ALLOWED_THIRD_PARTY
    offenders = {
        f"{path.name}: {name}"
        for path in domain_files()
        for name in imported_modules(path)
        if name.split(".")[0] not in allowed and not name.startswith("cardsort_app.domain")
    }
    assert not offenders


def test_importing_the_domain_loads_no_framework() -> None:
    code = (
        "import sys\n"
        "import cardsort_app.domain.events, cardsort_app.domain.state, cardsort_app.domain.reducer\n"
        "import cardsort_app.domain.rules, cardsort_app.domain.decks, cardsort_app.domain.optimistic\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'reflex', 'sqlalchemy', 'sqlmodel', 'alembic', 'httpx', 'ably', 'redis', 'psycopg'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
