"""Dependencies flow one way: bot → engine → storage. Walk every import and fail on a wrong one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "storage": ("bot", "engine", "slack_bolt", "slack_sdk", "fastapi", "torch", "transformers"),
    "engine": ("bot", "slack_bolt", "slack_sdk", "fastapi", "starlette", "uvicorn"),
}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_or_sideways_imports(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            if name.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


def test_only_storage_builds_sql() -> None:
    bad = []
    for package in ("bot", "engine"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in _imports(path):
                if name.split(".")[0] in ("sqlalchemy", "sqlmodel", "psycopg", "alembic"):
                    # the engine may pass the storage layer's Engine object around by type
                    if name == "sqlalchemy.engine":
                        continue
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


IMPORT_EACH_FIRST = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("bot", "engine")]:
        del sys.modules[loaded]  # fresh; storage (tables declared once) and the rest kept: fast
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
"""


def test_every_module_imports_first() -> None:
    """An import cycle shows only when a module of the cycle is the first one imported (the
    `labelbot digest --post` crash: bot.digests → … → bot.admin → bot.digests). Each module of
    bot and engine is imported first once, with the others of the two unloaded."""
    import subprocess
    import sys

    names = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in ("engine", "bot")
        for path in (ROOT / package).rglob("*.py")
    )
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH_FIRST, *names],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
