"""Progress bars on the terminal, one line redrawn in place: generation steps, training steps, animation frames."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sdstudio.core.animation.render import AnimationProgress
    from sdstudio.core.request import Progress
    from sdstudio.core.training.config import TrainProgress


def rate(p: Progress | TrainProgress) -> float:
    """Steps per second so far."""
    return p.step / p.elapsed if p.elapsed > 0 else 0.0


def duration(seconds: float) -> str:
    """45s, 2m05s, 1h03m."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class TerminalBar:
    """`prefix[#####.....] text`; a finished bar ends its line."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30):
        self.stream, self.width = stream, width

    def draw(self, fraction: float, text: str, *, prefix: str = "", finished: bool = False) -> None:
        filled = int(self.width * min(1.0, max(0.0, fraction)))
        self.stream.write(f"\r{prefix}[{'#' * filled}{'.' * (self.width - filled)}] {text}")
        if finished:
            self.stream.write("\n")
        self.stream.flush()


class ProgressBar(TerminalBar):
    """`[####....] 12/20 batch 1/2 1.50 it/s ETA 5.3s` for a generation."""

    def __call__(self, p: Progress) -> None:
        if p.phase == "compile":
            self.stream.write(f"{p.message}\n")
            self.stream.flush()
            return
        batch = f" batch {p.batch_index + 1}/{p.batch_count}" if p.batch_count > 1 else ""
        text = f"{p.step}/{p.total}{batch} {rate(p):.2f} it/s ETA {p.eta:.1f}s"
        self.draw(p.step / max(1, p.total), text, finished=p.step == p.total)


class TrainBar(TerminalBar):
    """`training: [####....] 120/400 loss 0.1032 1.9 it/s ETA 2m27s` for a LoRA training."""

    def __call__(self, p: TrainProgress) -> None:
        eta = f"{int(p.eta // 60)}m{int(p.eta % 60):02d}s"
        loss = f" loss {p.loss:.4f}" if p.phase == "training" else ""
        text = f"{p.step}/{p.total}{loss} {rate(p):.2f} it/s ETA {eta}"
        self.draw(p.step / max(1, p.total), text, prefix=f"{p.phase}: ", finished=p.step == p.total)


class FrameBar(TerminalBar):
    """`[####....] frame 12/120 step 3/20 ETA 4m10s` for an animation."""

    def __call__(self, p: AnimationProgress) -> None:
        step = f" step {p.step.step}/{p.step.total}" if p.step is not None else ""
        eta = f" ETA {duration(p.eta)}" if p.done else ""
        text = f"frame {p.done}/{p.total}{step}{eta}   "
        self.draw(p.fraction, text, finished=p.done == p.total and p.step is None)
