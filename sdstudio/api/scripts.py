"""A1111's `script_name` + `script_args` for the grid scripts: "X/Y/Z plot" and "Prompt matrix"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sdstudio.api.convert import Limits, output_size
from sdstudio.api.schemas import Img2ImgBody, Txt2ImgBody
from sdstudio.core.request import GeneratedImage, Request, RequestError, Result
from sdstudio.core.xyz import (
    A1111_IMG2IMG,
    A1111_TXT2IMG,
    NOTHING,
    Axis,
    axis_kind,
    parse_values,
    prompt_matrix,
    xyz_grid,
)
from sdstudio.core.xyz_run import PlotOutcome, grid_task

SCRIPTS = ("x/y/z plot", "prompt matrix")  # as /sdapi/v1/scripts lists them (A1111 lower-cases titles)


@dataclass
class ScriptRun:
    outcome: PlotOutcome
    include_cells: bool

    def task(self, store: Any) -> Any:
        return grid_task(self.outcome, store)

    def response_result(self, grid: Result) -> Result:
        """The grid first, then (A1111's "Include Sub Images") every cell."""
        cells: tuple[GeneratedImage, ...] = tuple(self.outcome.cell_images()) if self.include_cells else ()
        return Result(grid.request, grid.images + cells, grid.model_name, grid.model_hash, grid.elapsed)


def _axis(kind: Any, text: Any, dropdown: Any, labels: tuple[str, ...]) -> Axis:
    if isinstance(kind, bool) or not isinstance(kind, (int, str)):
        raise RequestError("script_args", f"an axis type must be an index or a name, not {kind!r}")
    if isinstance(kind, int):
        if not 0 <= kind < len(labels):
            raise RequestError("script_args", f"axis index {kind} is out of range (0 to {len(labels) - 1})")
        kind = labels[kind]
    axis = axis_kind(kind)
    if axis.label == "Nothing":
        return NOTHING
    values = (
        dropdown
        if isinstance(dropdown, list) and dropdown and not str(text or "").strip()
        else str(text or "")
    )
    return Axis(axis, parse_values(axis, values))


def _flags(rest: list[Any]) -> tuple[bool, bool, int]:
    """draw_legend, include_lone_images and margin_size from what follows the axes (the layout of the
    arguments changed between A1111 versions: booleans first, the margin the first number after them)."""
    bools = [v for v in rest if isinstance(v, bool)]
    numbers = [v for v in rest if isinstance(v, (int, float)) and not isinstance(v, bool)]
    legend = bools[0] if bools else True
    lone = bools[1] if len(bools) > 1 else False
    margin = int(numbers[0]) if numbers else 0
    if not 0 <= margin <= 500:
        raise RequestError("script_args", f"margin_size {margin} is out of range; use 0 to 500")
    return legend, lone, margin


def plan(body: Txt2ImgBody, request: Request, limits: Limits) -> ScriptRun | None:
    """The grid run a body's script asks for; None without a script; RequestError for others."""
    name = (body.script_name or "").strip().lower()
    if not name:
        return None
    args = list(body.script_args or [])
    if name == "x/y/z plot":
        labels = A1111_IMG2IMG if isinstance(body, Img2ImgBody) else A1111_TXT2IMG
        dropdowns = len(args) > 2 and (isinstance(args[2], list) or args[2] is None)
        step = 3 if dropdowns else 2
        axes = []
        for i in range(3):
            at = i * step
            if at >= len(args):
                axes.append(NOTHING)
                continue
            text = args[at + 1] if at + 1 < len(args) else ""
            axes.append(
                _axis(args[at], text, args[at + 2] if dropdowns and at + 2 < len(args) else None, labels)
            )
        legend, lone, margin = _flags(args[3 * step :])
        spec = xyz_grid(request, *axes)
    elif name == "prompt matrix":
        numbers = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
        legend, lone, margin = _flags([True, False, *numbers[-1:]])
        spec = prompt_matrix(request, " " if "space" in args else ", ")
    else:
        raise RequestError(
            "script_name", f"unknown script {body.script_name!r}; sdstudio has: {', '.join(SCRIPTS)}"
        )
    if spec.count > limits.max_plot_cells:
        raise RequestError(
            "script_args", f"{spec.count} cells is over this server's limit of {limits.max_plot_cells}"
        )
    for cell in (r for layer in spec.cells for row in layer for r in row):
        width, height = output_size(cell)
        if width * height > limits.max_output_pixels or cell.steps > limits.max_steps:
            raise RequestError(
                "script_args",
                f"a cell ({width}x{height}, {cell.steps} steps) is over this server's limits "
                f"({limits.max_output_pixels:,} pixels, {limits.max_steps} steps)",
            )
    return ScriptRun(PlotOutcome(spec, legend, margin), lone)
