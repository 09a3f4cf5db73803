"""`sdstudio generate --xy` as a real subprocess: the grid and every cell written with their parameters."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.cli.test_generate import _run


def test_xy_plot_writes_the_grid_then_each_cell(tmp_path: Path, sdstudio_home: Path, demo_home: Path) -> None:
    out = tmp_path / "plot.png"
    res = _run(
        "generate", "a lighthouse", "--width", "64", "--height", "64", "--seed", "3",
        "--xy", "Steps:1,2", "CFG Scale:3,7", "-o", str(out), home=sdstudio_home,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    grid = Image.open(out)
    assert grid.width > 128 and grid.height > 128  # two 64 px cells each way, plus labels
    cells = [tmp_path / f"plot-{i}.png" for i in range(1, 5)]
    params = [Image.open(c).info["parameters"] for c in cells]
    assert "Steps: 1," in params[0] and "CFG scale: 3" in params[0]
    assert "Steps: 2," in params[3] and "CFG scale: 7" in params[3]
    bad = _run("generate", "x", "--xy", "Steps:1", "Bogus:2", "-o", str(out), home=sdstudio_home)
    assert bad.returncode != 0 and "unknown or unsupported X/Y/Z axis 'Bogus'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
