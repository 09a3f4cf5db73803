"""A training run as a job of the one queue: the generation model is released first, progress flows through
the queue's messages, and each sample picture lands in the gallery as it is made, recording the LoRA run and
step it shows ("trained LoRA cat step 400")."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sdstudio.core.errors import SaveError
from sdstudio.core.jobs import Task
from sdstudio.core.protocols import PictureStore
from sdstudio.core.request import GeneratedImage, Progress, Request, Result
from sdstudio.core.training.config import Sample, TrainConfig, TrainProgress

if TYPE_CHECKING:
    from sdstudio.core.gallery.index import Record
    from sdstudio.core.protocols import Generator, Library


log = logging.getLogger(__name__)
SAMPLE_CFG = 7.5  # the pipeline's own default guidance, which the sample pictures are made with


def describe(config: TrainConfig) -> Request:
    """The request a queue row shows for a training job."""
    return Request(
        prompt=f"Training LoRA {config.output.stem}", model=config.model, steps=1, width=64, height=64
    )


def sample_result(config: TrainConfig, sample: Sample) -> Result:
    """A sample picture as a gallery result: its prompt with the LoRA tag, and the run and step as its origin."""
    name = config.output.stem
    request = Request(
        prompt=f"{sample.prompt} <lora:{name}:1>",
        model=config.model,
        steps=config.sample_steps,
        cfg_scale=SAMPLE_CFG,
        width=config.resolution,
        height=config.resolution,
        seed=config.seed + sample.index,
    )
    origin = {
        "text": f"trained LoRA {name} step {sample.step}",
        "lora": name,
        "step": sample.step,
        "run": str(config.state_dir),
        "output": str(config.output),
    }
    image = GeneratedImage(sample.image, request.seed, request, sample.index)
    return Result(request, (image,), model_name=config.model, origin=origin)


def gallery_sink(
    config: TrainConfig, gallery: PictureStore, on_saved: Callable[[list[Record]], None] | None = None
) -> Callable[[Sample], None]:
    """An on_sample callback that adds each sample to `gallery` at once; a failed save is logged (the run's
    folder keeps its copy) and the run goes on."""

    def add(sample: Sample) -> None:
        try:
            records = gallery.add(sample_result(config, sample))
        except SaveError as e:
            log.warning("sample picture of step %s not saved to the gallery: %s", sample.step, e)
            return
        if on_saved is not None:
            on_saved(records)

    return add


def training_task(
    config: TrainConfig,
    library: Library,
    on_train: Callable[[TrainProgress], None] | None = None,
    resume: bool = False,
    gallery: PictureStore | None = None,
    on_saved: Callable[[list[Record]], None] | None = None,
) -> Task:
    """The queue task that trains `config`; `on_train` hears every step's loss (the window's loss plot);
    sample pictures go to `gallery` during the run and `on_saved` hears of each."""

    def task(engine: Generator, on_step: Callable[[Progress], None], cancel: threading.Event) -> Result:
        from sdstudio.core.training.loop import Trainer

        if hasattr(engine, "close"):
            engine.close()  # the generation model leaves memory to the training one

        def progress(p: TrainProgress) -> None:
            on_step(Progress(p.step, p.total, p.elapsed, p.eta, phase=p.phase))
            if on_train is not None:
                on_train(p)

        sink = gallery_sink(config, gallery, on_saved) if gallery is not None else None
        Trainer(config, library, on_sample=sink).run(on_progress=progress, cancel=cancel, resume=resume)
        return Result(describe(config), (), model_name=config.model)  # the samples are saved already

    return task
