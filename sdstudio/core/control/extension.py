"""The ControlNet engine extension: the request's units (and the prompt's `{image}` tags) steer the picture from a
pre-UNet hook on the mode's own pipeline (inject.py): every control mode, units of different modes in one job,
per-unit region masks, and the hires fix's second pass (the maps fitted to the hires size)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdstudio.core.control.annotators import Annotators, find_annotator
from sdstudio.core.control.fetch import FetchPolicy
from sdstudio.core.control.inject import (
    UnitRun,
    acts_in,
    add_to_call,
    keep_unmasked,
    keeps,
    mask_tensor,
    residuals,
    to_tensor,
)
from sdstudio.core.control.ipadapter import AUTO_MODULE, IpKind, is_ip_unit
from sdstudio.core.control.loading import NO_MODEL, check_family, find_controlnet, load_controlnet, short_hash
from sdstudio.core.control.preprocess import INPAINT_MODULES, MODEL_MODULES, fit, preprocess
from sdstudio.core.control.tags import DEFAULT_KIND, KINDS, named_unit, parse_image_tags, units_from_tags
from sdstudio.core.control.unit import ControlUnit
from sdstudio.core.engine.hooks import BatchContext, Extension, RunContext, UNetCall
from sdstudio.core.errors import ModelError
from sdstudio.core.request import Request, RequestError

if TYPE_CHECKING:
    from diffusers import ControlNetModel
    from PIL.Image import Image

    from sdstudio.core.control.annotators import Annotators
    from sdstudio.core.engine.hooks import Decoded
    from sdstudio.core.engine.modes import Box
    from sdstudio.core.models.entries import ModelEntry
    from sdstudio.core.protocols import Library


__all__ = [
    "NO_MODEL",
    "AppliedControl",
    "ApplyControlNet",
    "add_applied",
    "find_controlnet",
    "job_units",
    "unit_map",
]


@dataclass(frozen=True)
class AppliedControl:
    """One unit as it ran: what the picture records (A1111's `ControlNet N` infotext lines)."""

    unit: ControlUnit
    model_name: str
    short_hash: str
    position: int = 0  # the unit's number among the job's units (attached ones, then the prompt's tags)

    def infotext(self) -> str:
        """The A1111 ControlNet extension's quoted value: `Module: canny, Model: name [hash], Weight: 1, ...`."""
        u = self.unit
        model = f"{self.model_name} [{self.short_hash[:8]}]" if self.short_hash else self.model_name
        parts = {
            "Module": u.module,
            "Model": model,
            "Weight": f"{u.weight:g}",
            "Resize Mode": u.resize_mode.value,
            "Processor Res": str(u.processor_res),
            "Threshold A": f"{u.threshold_a:g}",
            "Threshold B": f"{u.threshold_b:g}",
            "Guidance Start": f"{u.guidance_start:g}",
            "Guidance End": f"{u.guidance_end:g}",
            "Pixel Perfect": str(u.pixel_perfect),
            "Control Mode": u.control_mode.value,
        }
        if is_ip_unit(u) and u.ip_kind is not IpKind.reference:
            parts["IP Kind"] = u.ip_kind.value  # sdstudio's: which layers an IP-Adapter acts on
        if u.hr_option.value != "Both":
            parts["Hr Option"] = u.hr_option.value
        return ", ".join(f"{k}: {v}" for k, v in parts.items())


def job_units(request: Request, library: Library, ip: bool) -> list[tuple[int, ControlUnit]]:
    """The job's enabled IP-Adapter units (`ip`) or ControlNet units, numbered among all of its units (the
    attached ones, then those of the prompt's `{image:...}` tags); only the tags of that family are read."""
    _, tags = parse_image_tags(request.prompt)
    attached = [u for u in request.controls if u.enabled]
    out = [(i, u) for i, u in enumerate(attached) if is_ip_unit(u) == ip]
    adding = [t for t in tags if t.source and named_unit(attached, t.source) is None]  # tags that add a unit
    mine = [t for t in adding if (KINDS.get(t.kind or DEFAULT_KIND) == AUTO_MODULE) == ip]
    network = FetchPolicy.from_settings(library.settings)
    read = [t for t in tags if t not in adding or t in mine]
    units = units_from_tags(read, attached, network=network)
    return out + [(len(attached) + adding.index(t), u) for t, u in zip(mine, units, strict=True)]


def add_applied(ctx: RunContext, applied: Sequence[AppliedControl]) -> None:
    """Record units that ran; the picture lists every extension's units in the job's unit order."""
    ctx.record["controlnets"] = tuple(
        sorted((*ctx.record.get("controlnets", ()), *applied), key=lambda a: a.position)
    )


def _picture(unit: ControlUnit, request: Request) -> Image:
    """The unit's picture as the preprocessor takes it: inpaint modules carry their mask as alpha."""
    picture = unit.image or request.init_image
    if picture is None:  # for_request refuses this before any work
        raise RequestError("controls", "a unit has no reference picture; give one or use img2img")
    image = picture.to_pil()
    if unit.module in INPAINT_MODULES:
        mask = unit.mask or request.mask
        image = image.convert("RGB")
        if mask is not None:
            image.putalpha(mask.to_pil().convert("L").resize(image.size))
    return image


def _placed(
    image: Image, unit: ControlUnit, size: tuple[int, int], source: Image | None, box: Box | None
) -> Image:
    """A map or mask at the generation size; for "only masked" inpainting (a `box` of the full `source`
    picture is rendered) fitted to the full picture and the same box cut out, as A1111."""
    from PIL import Image

    if box is None or source is None:
        return fit(image, size, unit.resize_mode)
    full = fit(image, source.size, unit.resize_mode)
    left, top, right, bottom = box
    return full.crop((left, top, right, bottom)).resize(size, Image.Resampling.LANCZOS)


def unit_map(
    unit: ControlUnit,
    request: Request,
    source: Image | None = None,
    box: Box | None = None,
    annotators: Annotators | None = None,
) -> Image:
    """The unit's control map at the generation size (RGBA for inpaint modules: the mask as alpha).
    `annotators`: the preprocessor models (Annotators) for the modules that need one."""
    size = (request.width, request.height)
    return _placed(preprocess(_picture(unit, request), unit, size, annotators), unit, size, source, box)


def _family(config: object) -> str:
    """The model family a ControlNet's or UNet's diffusers config is made for."""
    dim = int(getattr(config, "cross_attention_dim", 0) or 0)
    xl = getattr(config, "addition_embed_type", None) == "text_time"
    return "SDXL" if xl else {768: "SD 1.x", 1024: "SD 2.x"}.get(dim, f"cross-attention {dim}")


class ApplyControlNet(Extension):
    """Runs the job's ControlNet units; the ControlNets stay loaded with the model (extras "controlnets")."""

    def __init__(self, units: list[ControlUnit], entries: list[ModelEntry], positions: Sequence[int] = ()):
        self.units, self.entries = units, entries
        self.positions = list(positions) or list(range(len(units)))
        self.runs: list[UnitRun] = []
        self._maps: list[
            tuple[Image, Image | None]
        ] = []  # per unit: its preprocessed map (before fitting) and its region mask
        self._inpaint: list[
            Image
        ] = []  # inpaint_only maps at the generation size (RGBA), kept outside the mask

    @classmethod
    def for_request(cls, request: Request, library: Library) -> ApplyControlNet | None:
        """The units of the request and its `{image:...}` tags; pictures, models and families checked
        before any work."""
        numbered = job_units(request, library, ip=False)
        if not numbered:
            return None
        units = [u for _, u in numbered]
        for i, unit in numbered:
            unit.validate(i)
            if unit.image is None and request.init_image is None:
                raise RequestError(f"controls[{i}].image", "no reference picture; give one or use img2img")
            if unit.module in INPAINT_MODULES and unit.mask is None and request.mask is None:
                raise RequestError(
                    f"controls[{i}].mask", f"{unit.module} repaints a masked area: paint a mask or send one"
                )
        for unit in units:  # a missing preprocessor model is one clear error before any work
            if unit.module in MODEL_MODULES:
                find_annotator(MODEL_MODULES[unit.module][0], library)
        entries = [find_controlnet(library, u, i) for i, u in numbered]
        try:
            base = library.resolve(request.model)
        except (ModelError, RequestError):
            base = None  # the engine names a missing model itself
        if base is not None:
            for entry in entries:
                check_family(entry, base.family, base.name)
        return cls(units, entries, [i for i, _ in numbered])

    def pipeline_prepared(self, ctx: RunContext) -> None:
        # 1. the ControlNets, loaded once per model, checked against its family
        cache: dict[str, ControlNetModel] = ctx.model.extras.setdefault("controlnets", {})
        unet = ctx.pipe.unet
        for unit, entry in zip(self.units, self.entries, strict=True):
            check_family(entry, ctx.model.family, ctx.model.name)
            if entry.location not in cache:
                cache[entry.location] = load_controlnet(entry, unet)
            net = cache[entry.location]
            if _family(net.config) != _family(unet.config):
                raise ModelError(
                    f"ControlNet {entry.name} is for {_family(net.config)} but the model {ctx.model.name} "
                    f"is {_family(unet.config)}; choose a ControlNet made for {_family(unet.config)}"
                )
            self.runs.append(UnitRun(unit, net))
        # 2. maps at the generation size (only masked: the crop), kept unfitted for other sizes (hires)
        r = ctx.request
        size = (r.width, r.height)
        annotators = Annotators(ctx.library, ctx.device)
        for run in self.runs:
            u = run.unit
            full = preprocess(_picture(u, r), u, size, annotators)
            region = u.mask.to_pil().convert("L") if u.mask and u.module not in INPAINT_MODULES else None
            self._maps.append((full, region))
            placed = _placed(full, u, size, ctx.source, ctx.preview_box)
            run.maps[size] = to_tensor(placed)
            if u.module == "inpaint_only" and placed.mode == "RGBA" and not r.enable_hr:
                self._inpaint.append(placed)
            run.masks[size] = (
                mask_tensor(_placed(region, u, size, ctx.source, ctx.preview_box)) if region else None
            )
        add_applied(
            ctx,
            [
                AppliedControl(u, e.name, short_hash(e), p)
                for u, e, p in zip(self.units, self.entries, self.positions, strict=True)
            ],
        )

    def before_encode(self, ctx: RunContext) -> None:
        ctx.prompt = parse_image_tags(ctx.prompt)[0]  # the tags never reach the text encoder

    def after_decode(self, ctx: RunContext, batch: BatchContext, images: Decoded) -> Decoded:
        """inpaint_only units keep their picture outside their mask, as A1111's (not with hires fix: its second
        pass decodes later)."""
        if not self._inpaint or not isinstance(images, list):
            return images
        for inpaint in self._inpaint:
            images = [keep_unmasked(im, inpaint) if im.size == inpaint.size else im for im in images]
        return images

    def pre_unet(self, ctx: RunContext, call: UNetCall) -> None:
        pipe = call.denoise.pipe
        total = int(getattr(pipe, "_num_timesteps", 0) or 0) or call.denoise.steps
        hires = call.denoise.phase == "hires"
        size = (call.sample.shape[-1] * 8, call.sample.shape[-2] * 8)
        cfg = bool(getattr(pipe, "do_classifier_free_guidance", True))
        for run, (full, region) in zip(self.runs, self._maps, strict=True):
            if not (acts_in(run.unit, hires) and keeps(run.unit, call.index, total)):
                continue
            if size not in run.maps:  # another pass's size (hires fix): the same map fitted to it
                run.maps[size] = to_tensor(fit(full, size, run.unit.resize_mode))
                run.masks[size] = mask_tensor(fit(region, size, run.unit.resize_mode)) if region else None
            add_to_call(call, *residuals(run, size, call, cfg, hires))
