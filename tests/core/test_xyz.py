"""X/Y/Z plot: A1111's value syntax, every combination a request, the grid's geometry and labels, a real run."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sdstudio.core.engine import Engine
from sdstudio.core.request import Request, RequestError
from sdstudio.core.xyz import NOTHING, Axis, axis_kind, parse_values, prompt_matrix, split_values, xyz_grid
from sdstudio.core.xyz_grid import draw_xyz, font, wrap
from sdstudio.core.xyz_run import PlotOutcome, run_grid


@pytest.mark.parametrize(
    ("axis", "text", "values"),
    [
        ("Steps", "1-5", (1, 2, 3, 4, 5)),
        ("Steps", "1-10 (+2)", (1, 3, 5, 7, 9)),
        ("Steps", "10-20 [3]", (10, 15, 20)),
        ("Steps", "20-10 (-5)", (20, 15)),  # A1111: range(20, 11, -5)
        ("Steps", "2, 4,8", (2, 4, 8)),
        ("CFG Scale", "5-7 (+0.5)", (5.0, 5.5, 6.0, 6.5, 7.0)),
        ("CFG Scale", "1-2 [3]", (1.0, 1.5, 2.0)),
        ("Denoising", "0.25,0.75", (0.25, 0.75)),
        ("Prompt S/R", 'cat, "dog, big", fox', ("cat", "dog, big", "fox")),
        ("Size", "512x512, 640x384", ("512x512", "640x384")),
        ("Prompt order", "a, b", (("a", "b"), ("b", "a"))),
    ],
)
def test_values_in_a1111_syntax(axis: str, text: str, values: tuple) -> None:
    assert parse_values(axis_kind(axis), text) == values


def test_bad_axis_and_values_are_named() -> None:
    with pytest.raises(RequestError, match="unknown or unsupported X/Y/Z axis 'Sigma Churn'"):
        Axis.parse("Sigma Churn:1,2")
    with pytest.raises(RequestError, match="Steps: 'many' is not a valid int value"):
        Axis.parse("Steps:2,many")
    with pytest.raises(RequestError, match="NAME:VALUES"):
        Axis.parse("Steps")
    with pytest.raises(RequestError, match="did not find 'zebra'"):
        xyz_grid(Request(prompt="a cat", seed=1), Axis.parse("Prompt S/R:zebra,horse"))
    with pytest.raises(RequestError, match="unknown sampler"):
        xyz_grid(Request(prompt="a cat", seed=1), Axis.parse("Sampler:Euler,Nope"))
    assert split_values(' a , "b, c" ,, d') == ["a", "b, c", "d"]


def test_every_combination_applied_with_fixed_seed() -> None:
    base = Request(prompt="a cat <lora:ink:0.8>", steps=5)
    spec = xyz_grid(
        base, Axis.parse("Steps:2,4"), Axis.parse("Prompt S/R:cat,dog"), Axis.parse("LoRA weight:0.5,1")
    )
    assert spec.count == 8 and spec.x_labels == ("Steps: 2", "Steps: 4") and spec.y_labels == ("cat", "dog")
    assert spec.z_labels == ("LoRA weight: 0.5", "LoRA weight: 1")
    cell = spec.cells[1][1][0]
    assert (cell.steps, cell.prompt) == (2, "a dog <lora:ink:1>")
    seeds = {r.seed for layer in spec.cells for row in layer for r in row}
    assert len(seeds) == 1 and seeds != {-1}  # -1 fixed once for the whole grid
    assert spec.positions()[:3] == [(0, 0, 0), (1, 0, 0), (0, 1, 0)]


def test_the_vae_axis_sets_each_cells_vae() -> None:
    spec = xyz_grid(Request(prompt="a cat"), Axis.parse("VAE:Automatic,vae-ft-mse.safetensors"))
    assert [r.vae for r in spec.cells[0][0]] == ["Automatic", "vae-ft-mse.safetensors"]


def test_prompt_matrix_as_a1111() -> None:
    spec = prompt_matrix(Request(prompt="a cat|in snow|at night|oil", seed=3))
    assert len(spec.x_labels) == 4 and len(spec.y_labels) == 2  # options b, c across; d down
    prompts = [r.prompt for row in spec.cells[0] for r in row]
    assert prompts[:4] == ["a cat", "a cat, in snow", "a cat, at night", "a cat, in snow, at night"]
    assert prompts[4] == "a cat, oil" and spec.x_labels[1] == "+ in snow\n- at night"
    with pytest.raises(RequestError, match="needs options after"):
        prompt_matrix(Request(prompt="a cat"))


def test_grid_geometry_labels_and_clicks() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    cells = [[[Image.new("RGB", (64, 48), colours[y * 2 + x]) for x in range(2)] for y in range(2)]]
    pic = draw_xyz(cells, ("Steps: 2", "Steps: 4"), ("CFG Scale: 3", "CFG Scale: 7"), ("",), margin=4)
    face = font((64 + 48) // 25 if (64 + 48) // 25 >= 12 else 12)
    pad_left = 64 * 3 // 4
    x, y, z, (left, top, right, bottom) = pic.boxes[3]
    assert (x, y, z) == (1, 1, 0) and right - left == 64 and bottom - top == 48
    assert pic.image.size == (pad_left + 2 * 64 + 4, top - 48 - 4 + 2 * 48 + 4)
    assert pic.boxes[0][3][0] == pad_left and pic.boxes[1][3][0] == pad_left + 64 + 4
    arr = np.asarray(pic.image)
    for _, _, _, (x0, y0, x1, y1) in pic.boxes:  # each cell's own colour, unchanged
        assert len({tuple(v) for v in arr[y0:y1, x0:x1].reshape(-1, 3)}) == 1
    assert (arr[: pic.boxes[0][3][1], pad_left:] < 128).any()  # column labels drawn above
    assert (arr[:, :pad_left] < 128).any()  # row labels drawn at the left
    assert pic.cell_at(left + 5, top + 5) == (1, 1, 0) and pic.cell_at(2, 2) is None
    assert wrap("CFG Scale: 7", 10_000, face) == ["CFG Scale: 7"] and len(wrap("a b c d e f", 20, face)) > 1


def test_z_grids_side_by_side_with_titles() -> None:
    cells = [[[Image.new("RGB", (32, 32), "gray")]] for _ in range(3)]
    pic = draw_xyz(cells, ("",), ("",), ("Seed: 1", "Seed: 2", "Seed: 3"))
    assert [b[2] for b in pic.boxes] == [0, 1, 2]
    lefts = [b[3][0] for b in pic.boxes]
    assert lefts[0] == 0 and lefts[1] - lefts[0] == lefts[2] - lefts[1] > 32
    no_legend = draw_xyz(cells, ("",), ("",), ("Seed: 1", "Seed: 2", "Seed: 3"), legend=False)
    assert no_legend.image.height == 32


def test_plot_runs_for_real_and_saves_each_cell(cpu_engine: Engine) -> None:
    base = Request(prompt="a cat", width=64, height=64, seed=4, steps=2)
    spec = xyz_grid(base, Axis.parse("Steps:1,2"), Axis.parse("CFG Scale:3,7"))
    saved: list = []
    progress: list = []
    outcome = PlotOutcome(spec)
    grid = run_grid(
        spec, cpu_engine, outcome, on_step=progress.append, save=lambda r: saved.append(r) or len(saved)
    )
    assert len(saved) == 4 and outcome.records[(1, 1, 0)] == 4
    assert [(p.batch_index, p.batch_count) for p in progress][-1] == (3, 4)
    cell = outcome.results[(1, 0, 0)].images[0]
    assert (cell.request.steps, cell.request.cfg_scale) == (2, 3.0)
    box = outcome.picture.boxes[1][3]
    got = np.asarray(grid.images[0].image)[box[1] : box[3], box[0] : box[2]]
    assert np.array_equal(got, np.asarray(cell.image.convert("RGB")))  # the cell's own picture in place
    assert NOTHING.label("") == ""
