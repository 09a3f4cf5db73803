"""Import-time costs: importing the core loads no Qt, torch or diffusers, and `sdstudio --help` does not wait
for torch. (Which layer may import which is declared in pyproject.toml and checked by lint-imports.)"""

from __future__ import annotations

import subprocess
import sys


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


def test_only_the_composition_root_reads_the_settings_file() -> None:
    """No constructor, window, route or command loads settings itself: they get them from core/root.py."""
    import ast
    from pathlib import Path

    allowed = {"settings.py", "persistence.py", "root.py"}
    package = Path(__file__).resolve().parents[1] / "sdstudio"
    loads = []
    for path in package.rglob("*.py"):
        if path.parent.name == "core" and path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "Settings"
            ):
                loads.append(f"{path.relative_to(package)}:{node.lineno}")
    assert loads == []
