"""Hires fix as AUTOMATIC1111 does it: a first pass at the request's size, an upscale (of the latents, or of
the picture with an upscaler), and a second img2img pass at the larger size with the hires steps."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdstudio.core.engine.hooks import BatchContext, DenoisePass, Extension, RunContext
from sdstudio.core.jsontypes import Kwargs
from sdstudio.core.protocols import Library

if TYPE_CHECKING:
    import torch

    from sdstudio.core.engine.hooks import Decoded
    from sdstudio.core.request import Request

# A1111's latent upscale modes: name -> (torch interpolate mode, antialias)
LATENT_MODES: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
LATENT = 8  # pixels per latent cell


@dataclass(frozen=True)
class HiresPlan:
    """Where the first pass is upscaled to, and how many latent cells are cut off (hr_resize_x/y aspect)."""

    upscale_to: tuple[int, int]
    truncate: tuple[int, int]  # latent cells cut, split between both sides as A1111 does

    @property
    def size(self) -> tuple[int, int]:
        """The final picture's size."""
        return (
            (self.upscale_to[0] // LATENT - self.truncate[0]) * LATENT,
            (self.upscale_to[1] // LATENT - self.truncate[1]) * LATENT,
        )

    def crop_box(self) -> tuple[int, int, int, int]:
        """The latent box (left, top, right, bottom) kept after the upscale."""
        w, h = self.upscale_to[0] // LATENT, self.upscale_to[1] // LATENT
        tx, ty = self.truncate
        return tx // 2, ty // 2, w - (tx + 1) // 2, h - (ty + 1) // 2


def hires_plan(width: int, height: int, scale: float, resize_x: int = 0, resize_y: int = 0) -> HiresPlan:
    """A1111's target resolution: `scale` times the first pass, or fit and crop to hr_resize_x x hr_resize_y."""
    if resize_x <= 0 and resize_y <= 0:
        return HiresPlan((int(width * scale), int(height * scale)), (0, 0))
    if resize_y <= 0:
        return HiresPlan((resize_x, resize_x * height // width), (0, 0))
    if resize_x <= 0:
        return HiresPlan((resize_y * width // height, resize_y), (0, 0))
    if width / height < resize_x / resize_y:
        to = (resize_x, resize_x * height // width)
    else:
        to = (resize_y * width // height, resize_y)
    return HiresPlan(to, ((to[0] - resize_x) // LATENT, (to[1] - resize_y) // LATENT))


def hires_steps(request: Request) -> int:
    return request.hr_second_pass_steps or request.steps


def validate_hires(request: Request) -> None:
    """Check the hires fields; raises RequestError naming the field and the fix."""
    from sdstudio.core.request import MAX_SIDE, MAX_STEPS, Mode, RequestError

    if not request.enable_hr:
        return
    if request.mode is not Mode.txt2img:
        raise RequestError(
            "enable_hr", "hires fix is for txt2img; for a picture use img2img at a larger size"
        )
    if not 1.0 <= float(request.hr_scale) <= 8.0:
        raise RequestError("hr_scale", f"{request.hr_scale} is out of range; use 1 to 8")
    for name in ("hr_resize_x", "hr_resize_y"):
        v = getattr(request, name)
        if not isinstance(v, int) or v < 0 or v > MAX_SIDE:
            raise RequestError(name, f"{v} is out of range; use 0 (use hr_scale) or up to {MAX_SIDE} pixels")
    steps = request.hr_second_pass_steps
    if not isinstance(steps, int) or not 0 <= steps <= MAX_STEPS:
        raise RequestError(
            "hr_second_pass_steps", f"{steps} is out of range; use 0 (same as steps) to {MAX_STEPS}"
        )
    if not request.hr_upscaler:
        raise RequestError("hr_upscaler", "name an upscaler, e.g. Latent or Lanczos")
    w, h = hires_plan(
        request.width, request.height, request.hr_scale, request.hr_resize_x, request.hr_resize_y
    ).size
    if min(w, h) < 64 or max(w, h) > MAX_SIDE:
        raise RequestError(
            "hr_scale", f"the hires size {w}x{h} is out of range; keep each side 64 to {MAX_SIDE}"
        )
    if int(hires_steps(request) * float(request.strength)) < 1:
        raise RequestError(
            "strength",
            f"{hires_steps(request)} hires steps at denoising {request.strength:g} leave no step to run; "
            "raise the denoising strength or the hires steps",
        )


def check_upscaler(request: Request, library: Library) -> None:
    """Before any sampling: the named hires upscaler exists (RequestError listing the known ones)."""
    if request.enable_hr and request.hr_upscaler not in LATENT_MODES:
        from sdstudio.core.upscale import find_upscaler

        find_upscaler(request.hr_upscaler, library, "hr_upscaler")


def first_pass_output(request: Request) -> str:
    """The first pass's output_type: latents for the latent modes, pictures for an upscaler."""
    return "latent" if request.hr_upscaler in LATENT_MODES else "pil"


def second_pass_image(
    first: Decoded,
    request: Request,
    library: Library,
    device: str = "cpu",
    cancel: threading.Event | None = None,
) -> Decoded:
    """The second pass's input: the first pass's latents interpolated (latent modes) or its pictures upscaled
    with the named upscaler, both cut to the plan's size."""
    plan = hires_plan(
        request.width, request.height, request.hr_scale, request.hr_resize_x, request.hr_resize_y
    )
    left, top, right, bottom = plan.crop_box()
    if request.hr_upscaler in LATENT_MODES:
        import torch

        mode, antialias = LATENT_MODES[request.hr_upscaler]
        size = (plan.upscale_to[1] // LATENT, plan.upscale_to[0] // LATENT)
        latents = torch.nn.functional.interpolate(first, size=size, mode=mode, antialias=antialias)
        return latents[:, :, top:bottom, left:right]
    from sdstudio.core.upscale import find_upscaler, upscale_image

    upscaler = find_upscaler(request.hr_upscaler, library, "hr_upscaler")
    box = (left * LATENT, top * LATENT, right * LATENT, bottom * LATENT)
    upscaled = [upscale_image(im, *plan.upscale_to, upscaler, device, cancel=cancel) for im in first]
    return [im.crop(box) if im.size != plan.size else im for im in upscaled]


class HiresFix(Extension):
    """The engine extension: the first pass hands over latents or pictures, upscaled and run through a
    second img2img pass (phase "hires") at the hires steps and the request's denoising strength."""

    @classmethod
    def for_request(cls, request: Request, library: Library) -> HiresFix | None:
        """None without hires fix; RequestError for an unknown upscaler, before the model loads."""
        if not request.enable_hr:
            return None
        check_upscaler(request, library)
        return cls()

    def pipeline_prepared(self, ctx: RunContext) -> None:
        from sdstudio.core.request import RequestError

        if ctx.model.inpaint_model and first_pass_output(ctx.request) == "latent":
            raise RequestError(
                "hr_upscaler", "inpainting models need a picture upscaler (e.g. Lanczos), not a latent mode"
            )

    def before_batch(self, ctx: RunContext, batch: BatchContext) -> None:
        batch.output_type = first_pass_output(ctx.request)

    def after_decode(self, ctx: RunContext, batch: BatchContext, images: Decoded) -> Decoded:
        request, inpaint = ctx.request, ctx.model.inpaint_model
        steps = hires_steps(request)
        image = second_pass_image(images, request, ctx.library, ctx.device, ctx.cancel)
        pipe = ctx.pipeline("inpaint" if inpaint else "img2img")
        inputs: Kwargs = {"image": image, "strength": request.strength}
        if inpaint:
            from PIL import Image

            size = image[0].size
            inputs |= {"mask_image": Image.new("L", size, 255), "width": size[0], "height": size[1]}
        cond = ctx.encode(pipe, steps)
        second = DenoisePass(
            pipe,
            {**cond.kwargs_at(0), **inputs},
            steps,
            cond,
            "hires",
            noise=_hires_noise(request, batch, image),
            generators=batch.fresh_generators(),
        )
        return ctx.denoise(batch, second)


def _hires_noise(request: Request, batch: BatchContext, image: Decoded) -> torch.Tensor | None:
    """The second pass's noise: A1111 draws the variation noise again at the hires size (None: plain)."""
    from sdstudio.core.variation import NoiseSeeds, batch_noise

    seeds = NoiseSeeds(
        tuple(batch.seeds),
        tuple(batch.subseeds),
        float(request.subseed_strength),
        (request.seed_resize_from_w, request.seed_resize_from_h),
    )
    if seeds.plain:
        return None
    channels = batch.noise_shape[1]
    width, height = (
        (image.shape[3] * LATENT, image.shape[2] * LATENT) if hasattr(image, "shape") else image[0].size
    )
    return batch_noise((channels, height // LATENT, width // LATENT), seeds)
