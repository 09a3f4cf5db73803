"""What a training run is asked to do, checked before any work; what it reports while and after it runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.request import RequestError

if TYPE_CHECKING:
    from PIL.Image import Image


SCHEDULERS = ("constant", "constant_with_warmup", "cosine", "cosine_with_warmup", "linear")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class TrainConfig:
    """One LoRA training run (kohya's names where it has one)."""

    dataset: Path
    model: str = ""
    output: Path = Path("lora.safetensors")
    steps: int = 0  # 0: run `epochs` epochs
    epochs: int = 0  # 0 with steps 0: 10 epochs
    rank: int = 16  # network_dim
    alpha: float = 8.0  # network_alpha
    lr: float = 1e-4  # unet_lr
    text_encoder_lr: float = 5e-5
    train_text_encoder: bool = False
    batch: int = 1
    resolution: int = 512
    seed: int = 0
    scheduler: str = "constant"
    warmup_steps: int = 0
    locon: bool = False  # also the ResNet and sampler convolutions (LyCORIS LoCon)
    noise_offset: float = 0.0
    min_snr_gamma: float = 0.0  # 0: off; kohya suggests 5
    trigger: str = ""
    caption_template: str = ""
    save_every: int = 0  # steps between resume checkpoints; 0: every tenth of the run
    sample_every: int = 0  # steps between sample pictures; 0: none
    sample_prompts: tuple[str, ...] = ()
    sample_steps: int = 20
    precision: str = "auto"  # fp32 on the CPU; bf16 (fp16 where bf16 is missing) on CUDA
    gradient_checkpointing: bool | None = None  # None: on for CUDA cards under 24 GiB
    device: str | None = None

    def replace(self, **changes: object) -> TrainConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> TrainConfig:
        """Every option in range before anything loads; RequestError names the option and the fix."""
        checks: list[tuple[str, bool, str]] = [
            ("steps", 0 <= self.steps <= 1_000_000, "use 0 (by epochs) to 1,000,000"),
            ("epochs", 0 <= self.epochs <= 10_000, "use 0 to 10,000"),
            ("rank", 1 <= self.rank <= 1024, "use 1 to 1024 (4-64 is usual)"),
            ("alpha", 0 < self.alpha <= 1024, "use a number above 0 (often half the rank)"),
            ("lr", 0 < self.lr <= 1, "use a learning rate above 0, such as 1e-4"),
            ("text_encoder_lr", 0 < self.text_encoder_lr <= 1, "use a learning rate above 0, such as 5e-5"),
            ("batch", 1 <= self.batch <= 64, "use 1 to 64"),
            ("resolution", 64 <= self.resolution <= 2048 and self.resolution % 64 == 0,
             "use a multiple of 64 from 64 to 2048 (512 for SD 1.x, 1024 for SDXL)"),
            ("warmup_steps", self.warmup_steps >= 0, "use 0 or more"),
            ("noise_offset", 0 <= self.noise_offset <= 1, "use 0 to 1 (0.05-0.1 is usual)"),
            ("min_snr_gamma", 0 <= self.min_snr_gamma <= 100, "use 0 (off) or about 5"),
            ("save_every", self.save_every >= 0, "use 0 or more steps"),
            ("sample_every", self.sample_every >= 0, "use 0 or more steps"),
            ("sample_steps", 1 <= self.sample_steps <= 150, "use 1 to 150"),
        ]  # fmt: skip
        for name, ok, fix in checks:
            if not ok:
                raise RequestError(name, f"{getattr(self, name)} is out of range; {fix}")
        if self.scheduler not in SCHEDULERS:
            raise RequestError(
                "scheduler", f"unknown scheduler {self.scheduler!r}; use {', '.join(SCHEDULERS)}"
            )
        if self.precision not in PRECISIONS:
            raise RequestError(
                "precision", f"unknown precision {self.precision!r}; use {', '.join(PRECISIONS)}"
            )
        if self.output.suffix.lower() != ".safetensors":
            raise RequestError(
                "output", f"{self.output} must end in .safetensors (the format A1111 and ComfyUI load)"
            )
        if self.sample_every and not self.sample_prompts:
            raise RequestError("sample_prompts", "sample pictures need at least one sample prompt")
        return self

    @property
    def state_dir(self) -> Path:
        """The run's folder for resume checkpoints and sample pictures: in sdstudio's data folder, never beside
        the output (a LoRA folder would list the checkpoint as a LoRA)."""
        import hashlib

        from sdstudio.core import paths

        where = hashlib.sha1(str(self.output.expanduser().resolve()).encode()).hexdigest()[:8]
        return paths.data_dir() / "training" / f"{self.output.stem}-{where}"


@dataclass(frozen=True)
class TrainProgress:
    step: int
    total: int
    loss: float  # this step's loss (0 while caching)
    elapsed: float
    eta: float
    phase: str = "training"  # "caching latents", "training", "sampling", "saving"


@dataclass(frozen=True)
class TrainResult:
    output: Path
    steps: int
    losses: tuple[float, ...]  # every step's loss, resumed steps included
    samples: tuple[Path, ...]
    peak_memory: int  # bytes (CUDA: allocated tensors; CPU: the process's peak resident size)
    skipped: tuple[tuple[Path, str], ...]


@dataclass(frozen=True)
class Sample:
    """One sample picture made during a run: sample prompt `index` with the LoRA as trained after `step` steps."""

    image: Image
    prompt: str
    index: int
    step: int
    path: Path  # its copy in the run folder
