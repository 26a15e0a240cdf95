"""The layer rules of docs/architecture.md hold, and the check really catches a break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_layer_imports_only_downward() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    for package in ("converter", "desktop"):
        shutil.copytree(
            REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    storage = tmp_path / "converter" / "storage.py"
    storage.write_text(storage.read_text() + "\nfrom desktop.services import library  # upward\n")

    result = _lint_imports(tmp_path)

    assert result.returncode != 0
    assert "Layers import only downward BROKEN" in result.stdout
    assert "converter.storage -> desktop.services.library" in result.stdout


def test_no_ui_module_runs_without_qt() -> None:
    """Logic that needs no Qt belongs in desktop.services, not among the widgets."""
    plain = [
        path.relative_to(REPO_ROOT).as_posix()
        for path in (REPO_ROOT / "desktop" / "ui").rglob("*.py")
        if path.name != "__init__.py" and "PySide6" not in path.read_text(encoding="utf-8")
    ]
    assert plain == []


def test_module_names_are_unique_across_packages() -> None:
    names: dict[str, list[str]] = {}
    for package in ("converter", "desktop"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            if path.name not in {"__init__.py", "__main__.py"}:
                names.setdefault(path.stem, []).append(path.relative_to(REPO_ROOT).as_posix())
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
