"""A training run as a job of the one queue: the generation model is released first, progress flows through
the queue's messages, and the sample pictures land in the gallery as the job's result."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sdstudio.core.jobs import Task
from sdstudio.core.request import GeneratedImage, Progress, Request, Result
from sdstudio.core.training.config import TrainConfig, TrainProgress


def describe(config: TrainConfig) -> Request:
    """The request a queue row shows for a training job."""
    return Request(
        prompt=f"Training LoRA {config.output.stem}", model=config.model, steps=1, width=64, height=64
    )


def training_task(
    config: TrainConfig,
    library: Any,
    on_train: Callable[[TrainProgress], None] | None = None,
    resume: bool = False,
) -> Task:
    """The queue task that trains `config`; `on_train` hears every step's loss (the window's loss plot)."""

    def task(engine: Any, on_step: Callable[[Progress], None], cancel: threading.Event) -> Result:
        from sdstudio.core.training.loop import Trainer

        if hasattr(engine, "close"):
            engine.close()  # the generation model leaves memory to the training one
        samples: list[tuple[Any, str, int]] = []

        def progress(p: TrainProgress) -> None:
            on_step(Progress(p.step, p.total, p.elapsed, p.eta, phase=p.phase))
            if on_train is not None:
                on_train(p)

        trainer = Trainer(
            config, library, on_sample=lambda im, prompt, step: samples.append((im, prompt, step))
        )
        trainer.run(on_progress=progress, cancel=cancel, resume=resume)
        request = describe(config)
        images = tuple(
            GeneratedImage(
                im,
                config.seed + i,
                Request(
                    prompt=f"{prompt} <lora:{config.output.stem}:1>",
                    model=config.model,
                    steps=config.sample_steps,
                    width=config.resolution,
                    height=config.resolution,
                    seed=config.seed + i,
                ),
                i,
            )
            for i, (im, prompt, _step) in enumerate(samples[-len(config.sample_prompts) :] if samples else [])
        )
        return Result(request, images, model_name=config.model)

    return task
