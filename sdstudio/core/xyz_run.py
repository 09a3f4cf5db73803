"""Running a grid of requests (X/Y/Z plot, prompt matrix): each cell a generation saved as it lands, then
the labelled grid picture; as a queue task so the window, the API and the CLI share it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sdstudio.core.request import GeneratedImage, Progress, Result
from sdstudio.core.xyz import GridSpec
from sdstudio.core.xyz_grid import GridPicture, draw_xyz

if TYPE_CHECKING:
    from sdstudio.core.gallery.index import Record
    from sdstudio.core.protocols import Library, LibraryGenerator, PictureStore

Position = tuple[int, int, int]


@dataclass
class PlotOutcome:
    """What a plot made: each cell's result (and gallery record, when saved) and the grid picture."""

    spec: GridSpec
    legend: bool = True
    margin: int = 0
    results: dict[Position, Result] = field(default_factory=dict)
    records: dict[Position, tuple[Record, ...]] = field(default_factory=dict)
    picture: GridPicture | None = None

    def cell_images(self) -> list[GeneratedImage]:
        """The cells' pictures in running order (z, then y, then x)."""
        return [self.results[p].images[0] for p in self.spec.positions() if p in self.results]


def check_models(spec: GridSpec, library: Library) -> None:
    """Every checkpoint the grid names exists, before the first cell runs (ModelError otherwise)."""
    for model in sorted({r.model for layer in spec.cells for row in layer for r in row if r.model}):
        library.resolve(model)


def run_grid(
    spec: GridSpec,
    engine: LibraryGenerator,
    outcome: PlotOutcome,
    on_step: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    save: Callable[[Result], tuple[Record, ...]] | None = None,
) -> Result:
    """Run every cell (saving each with `save`), draw the grid; the Result holds the grid picture only."""
    started = time.perf_counter()
    check_models(spec, engine.library)  # 1. names checked before any work
    positions = spec.positions()
    durations: list[float] = []
    for index, (x, y, z) in enumerate(positions):  # 2. the cells, progress counted over the whole grid
        cell_start = time.perf_counter()

        def report(p: Progress, index: int = index) -> None:
            if on_step is None:
                return
            per_cell = sum(durations) / len(durations) if durations else 0.0
            eta = p.eta + per_cell * (len(positions) - index - 1)
            on_step(
                Progress(
                    p.step, p.total, p.elapsed, eta, p.preview, index, len(positions), p.phase, p.preview_box
                )
            )

        result = engine.run(spec.cells[z][y][x], on_step=report, cancel=cancel)
        durations.append(time.perf_counter() - cell_start)
        outcome.results[(x, y, z)] = result
        if save is not None:
            outcome.records[(x, y, z)] = save(result)
    layers = [
        [[outcome.results[(x, y, z)].images[0].image for x in range(len(row))] for y, row in enumerate(layer)]
        for z, layer in enumerate(spec.cells)
    ]
    outcome.picture = draw_xyz(
        layers, spec.x_labels, spec.y_labels, spec.z_labels, outcome.legend, outcome.margin
    )
    first = outcome.results[positions[0]]  # 3. the grid, recorded with the first cell's parameters (as A1111)
    gen = GeneratedImage(outcome.picture.image, first.images[0].seed, first.images[0].request)
    return Result(first.request, (gen,), first.model_name, first.model_hash, time.perf_counter() - started)


def grid_task(outcome: PlotOutcome, store: PictureStore | None = None) -> Callable[..., Result]:
    """A JobQueue task running the plot: cells go to `store` one by one, the grid through the queue."""

    def task(
        engine: LibraryGenerator, on_step: Callable[[Progress], None], cancel: threading.Event
    ) -> Result:
        save = (lambda r: tuple(store.add(r))) if store is not None else None
        return run_grid(outcome.spec, engine, outcome, on_step, cancel, save)

    return task
