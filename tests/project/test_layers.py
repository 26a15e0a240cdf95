"""The layer rules of docs/architecture.md hold, and the check really catches a break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

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
    """Logic that needs no Qt belongs in desktop.services, not among the widgets: every UI
    module uses Qt itself or works on the app's widgets (a part of a widget kept in a file of
    its own, such as the chat view's message edits)."""
    plain = [
        path.relative_to(REPO_ROOT).as_posix()
        for path in (REPO_ROOT / "desktop" / "ui").rglob("*.py")
        if path.name != "__init__.py"
        and not any(
            marker in path.read_text(encoding="utf-8") for marker in ("PySide6", "from desktop.ui.")
        )
    ]
    assert plain == []


def test_module_names_are_unique_across_packages() -> None:
    names: dict[str, list[str]] = {}
    for package in ("converter", "desktop"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            if path.name not in {"__init__.py", "__main__.py"}:
                names.setdefault(path.stem, []).append(path.relative_to(REPO_ROOT).as_posix())
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (Tarjan's method)."""
    modules = sorted(graph.modules)
    known = set(modules)
    edges = {m: sorted(set(graph.find_modules_directly_imported_by(m)) & known) for m in modules}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in modules:
        if root in order:
            continue
        work = [(root, iter(edges[root]))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == order[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        cycles.append(sorted(group))
            elif target not in order:
                order[target] = low[target] = len(order)
                stack.append(target)
                on_stack.add(target)
                work.append((target, iter(edges[target])))
            elif target in on_stack:
                low[node] = min(low[node], order[target])
    return cycles


def test_no_modules_import_each_other_round_a_loop() -> None:
    """Counting imports inside functions too: a loop means two modules are really one."""
    assert import_cycles(grimp.build_graph("converter", "desktop")) == []


def test_a_loop_of_imports_is_found() -> None:
    graph = grimp.build_graph("converter", "desktop")
    assert graph.direct_import_exists(importer="converter.storage", imported="converter.errors")
    graph.add_import(importer="converter.errors", imported="converter.storage")
    assert ["converter.errors", "converter.storage"] in import_cycles(graph)
