"""Variation seeds as AUTOMATIC1111 makes them: each picture's starting noise is the spherical blend of its
seed's noise and its variation seed's noise, optionally drawn at another size ("resize seed from")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdstudio.core.engine.hooks import BatchContext, Extension, RunContext
from sdstudio.core.protocols import Library

if TYPE_CHECKING:
    import torch

    from sdstudio.core.request import Request

LATENT_FACTOR = 8  # pixels per latent cell (SD 1.x, 2.x and SDXL)


@dataclass(frozen=True)
class NoiseSeeds:
    """The seeds of one batch: per picture its seed and variation seed, and the shared variation settings."""

    seeds: tuple[int, ...]
    subseeds: tuple[int, ...]
    strength: float = 0.0
    resize_from: tuple[int, int] = (0, 0)  # (width, height) in pixels; (0, 0): the picture's own size

    @property
    def plain(self) -> bool:
        """True when the noise is each seed's own: no variation and no resize (diffusers draws the same)."""
        return self.strength == 0 and not (self.resize_from[0] > 0 and self.resize_from[1] > 0)


def batch_seeds(
    seed: int, subseed: int, strength: float, first: int, count: int
) -> tuple[list[int], list[int]]:
    """Seeds and variation seeds of pictures first..first+count-1 of a job, numbered as A1111 does: with a
    variation strength every picture keeps the seed and the variation seed counts up; without, the seed does."""
    seeds = [
        (seed + (0 if strength else first + i)) % 2**64 for i in range(count)
    ]  # 64-bit seeds wrap as torch
    subseeds = [(subseed + first + i) % 2**64 for i in range(count)]
    return seeds, subseeds


def cpu_randn(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The first tensor a CPU generator seeded with `seed` draws (A1111's CPU RNG, diffusers' generators)."""
    import torch

    generator = torch.Generator("cpu").manual_seed(int(seed))
    return torch.randn(shape, generator=generator, device="cpu", dtype=torch.float32)


def slerp(t: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from `a` (t=0) to `b` (t=1) along dim 1 of (C, H, W) noise, as A1111 does it
    (nearly parallel vectors fall back to its linear blend, weights as A1111 has them)."""
    import torch

    a_unit = a / torch.linalg.vector_norm(a, dim=1, keepdim=True)
    b_unit = b / torch.linalg.vector_norm(b, dim=1, keepdim=True)
    cos = (a_unit * b_unit).sum(dim=1)
    if cos.mean() > 0.9995:
        return a * t + b * (1 - t)
    angle = torch.acos(cos)
    sin = torch.sin(angle)
    w_a = (torch.sin((1.0 - t) * angle) / sin).unsqueeze(1)
    w_b = (torch.sin(t * angle) / sin).unsqueeze(1)
    return w_a * a + w_b * b


def _paste_centred(target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """`source` (C, h, w) centred on `target` (C, H, W), cropped where it is larger."""
    _, th, tw = target.shape
    _, sh, sw = source.shape
    off_x, off_y = (tw - sw) // 2, (th - sh) // 2
    w = sw if off_x >= 0 else sw + 2 * off_x
    h = sh if off_y >= 0 else sh + 2 * off_y
    tx, ty = max(off_x, 0), max(off_y, 0)
    sx, sy = max(-off_x, 0), max(-off_y, 0)
    target[:, ty : ty + h, tx : tx + w] = source[:, sy : sy + h, sx : sx + w]
    return target


def picture_noise(
    shape: tuple[int, int, int], seed: int, subseed: int, strength: float, resize_from: tuple[int, int]
) -> torch.Tensor:
    """One picture's (C, H, W) starting noise."""
    resized = resize_from[0] > 0 and resize_from[1] > 0
    drawn = (shape[0], resize_from[1] // LATENT_FACTOR, resize_from[0] // LATENT_FACTOR) if resized else shape
    noise = cpu_randn(seed, drawn)
    if strength != 0:
        noise = slerp(strength, noise, cpu_randn(subseed, drawn))
    if drawn != shape:
        noise = _paste_centred(cpu_randn(seed, shape), noise)
    return noise


def batch_noise(shape: tuple[int, int, int], seeds: NoiseSeeds) -> torch.Tensor:
    """The (B, C, H, W) starting noise of a batch, on the CPU in float32."""
    import torch

    return torch.stack(
        [
            picture_noise(shape, seed, subseed, seeds.strength, seeds.resize_from)
            for seed, subseed in zip(seeds.seeds, seeds.subseeds, strict=True)
        ]
    )


def validate_variation(request: Request) -> None:
    """Check the variation fields; raises RequestError naming the field and the fix."""
    from sdstudio.core.request import MAX_SEED, MAX_SIDE, RequestError

    if not isinstance(request.subseed, int) or not -1 <= request.subseed <= MAX_SEED:
        raise RequestError(
            "subseed", f"{request.subseed} is out of range; use -1 (random) or 0 to {MAX_SEED}"
        )
    if not 0.0 <= float(request.subseed_strength) <= 1.0:
        raise RequestError("subseed_strength", f"{request.subseed_strength} is out of range; use 0 to 1")
    for name in ("seed_resize_from_w", "seed_resize_from_h"):
        v = getattr(request, name)
        if not isinstance(v, int) or v > MAX_SIDE or (v > 0 and v < 64):
            raise RequestError(name, f"{v} is out of range; use 0 or -1 (off) or 64 to {MAX_SIDE} pixels")


class VariationNoise(Extension):
    """The engine extension: each batch starts from A1111's variation noise (every mode; ordinary models)."""

    def __init__(self, strength: float, resize_from: tuple[int, int]):
        self.strength, self.resize_from = strength, resize_from

    @classmethod
    def for_request(cls, request: Request, library: Library) -> VariationNoise | None:
        """None where the noise is each seed's own."""
        resize = (request.seed_resize_from_w, request.seed_resize_from_h)
        if NoiseSeeds((), (), float(request.subseed_strength), resize).plain:
            return None
        return cls(float(request.subseed_strength), resize)

    def pipeline_prepared(self, ctx: RunContext) -> None:
        if ctx.model.inpaint_model:
            raise _only_txt2img()

    def before_batch(self, ctx: RunContext, batch: BatchContext) -> None:
        seeds = NoiseSeeds(tuple(batch.seeds), tuple(batch.subseeds), self.strength, self.resize_from)
        shape = batch.noise_shape[1:]
        batch.noise = batch_noise((shape[0], shape[1], shape[2]), seeds)


def _only_txt2img() -> Exception:
    from sdstudio.core.request import RequestError

    return RequestError(
        "subseed_strength", "variation seeds and seed resize need an ordinary model (not an inpainting one)"
    )
