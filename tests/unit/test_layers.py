"""Dependencies point inward: domain imports nothing of ours but domain and no framework;
services never import the front ends (api, bot, jobs, cli)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "tgshop"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("domain"), ids=lambda p: p.name)
def test_domain_is_pure(path: Path) -> None:
    forbidden = ("sqlalchemy", "fastapi", "aiogram", "httpx", "redis", "starlette", "pydantic")
    for name in _imports(path):
        assert not name.startswith(forbidden), f"{path.name} imports {name}"
        if name.startswith("tgshop"):
            assert name.startswith("tgshop.domain"), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _modules("services"), ids=lambda p: p.name)
def test_services_do_not_import_front_ends(path: Path) -> None:
    front_ends = (
        "tgshop.api",
        "tgshop.bot",
        "tgshop.jobs",
        "tgshop.cli",
        "tgshop.runtime",
        "tgshop.app",
        "fastapi",
        "aiogram",
    )
    for name in _imports(path):
        assert not name.startswith(front_ends), f"{path.name} imports {name}"
