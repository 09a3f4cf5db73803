"""The core never imports Qt, and `sdstudio --help` does not wait for torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "sdstudio" / "core"
QT = ("PySide6", "PyQt5", "PyQt6", "PySide2", "qtpy", "shiboken6", "superqt")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_qt() -> None:
    files = list(CORE.rglob("*.py"))
    assert files
    offenders = {str(p.relative_to(CORE)): sorted(_imports(p) & set(QT)) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_core_import_loads_no_qt_torch_or_diffusers() -> None:
    code = (
        "import sys, pkgutil, importlib, sdstudio.core as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'sdstudio.core.'): importlib.import_module(m.name)\n"
        "bad = [m for m in ('PySide6', 'torch', 'diffusers', 'transformers') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_is_fast_and_loads_no_torch() -> None:
    code = "import sys; from sdstudio.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    res = subprocess.run([sys.executable, "-m", "sdstudio", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "generate" in res.stdout
