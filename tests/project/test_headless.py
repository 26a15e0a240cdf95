"""Everything below desktop.ui (and the CLI) must import and run with PySide6 absent."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT

BLOCK_QT_AND_IMPORT_ALL = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys

    class BlockQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy", "superqt"}:
                raise ImportError(f"{name} is blocked: headless code must not import Qt")
            return None

    sys.meta_path.insert(0, BlockQt())
    imported = []
    for package_name in ("converter", "desktop.engine", "desktop.services", "desktop.commands"):
        package = importlib.import_module(package_name)
        imported.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            if info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)
            imported.append(info.name)
    from desktop import cli  # the CLI itself is headless too
    print(len(imported))
    """
)


def test_headless_packages_import_without_qt() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_QT_AND_IMPORT_ALL],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 5


def test_cli_help_lists_subcommands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for command in ("convert", "quantize", "hw", "fit", "chat", "compare"):
        assert command in result.stdout
