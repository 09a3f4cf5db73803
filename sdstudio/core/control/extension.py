"""The ControlNet engine extension: the request's units (and the prompt's `{image}` tags) steer the picture
through diffusers' ControlNet pipelines, derived from the loaded model with from_pipe (no reload)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdstudio.core.control.annotators import Annotators, find_annotator
from sdstudio.core.control.fetch import FetchPolicy
from sdstudio.core.control.ipadapter import AUTO_MODULE, IpKind, is_ip_unit
from sdstudio.core.control.preprocess import MODEL_MODULES, MODEL_WORDS, control_map
from sdstudio.core.control.tags import DEFAULT_KIND, KINDS, named_unit, parse_image_tags, units_from_tags
from sdstudio.core.control.unit import ControlMode, ControlUnit
from sdstudio.core.engine.hooks import Extension, RunContext
from sdstudio.core.errors import ModelError
from sdstudio.core.request import Request, RequestError

NO_MODEL = ("", "None", "none")  # webuiapi sends model="None" for "no model chosen"


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
        return ", ".join(f"{k}: {v}" for k, v in parts.items())


def job_units(request: Request, library: Any, ip: bool) -> list[tuple[int, ControlUnit]]:
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


def find_controlnet(library: Any, unit: ControlUnit, index: int) -> Any:
    """The library's ControlNet entry for a unit: its model by name, `name [hash]` or file name; with no model
    named, the first ControlNet whose name contains the module (e.g. `control_v11p_sd15_canny`)."""
    from sdstudio.core.models.entries import Kind

    entries = library.entries(Kind.controlnet)
    known = ", ".join(e.name for e in entries[:12]) or "none; put ControlNets in models/ControlNet"
    wanted = unit.model.strip()
    if wanted in NO_MODEL:
        word = MODEL_WORDS.get(unit.module, unit.module)
        found = [e for e in entries if unit.module != "none" and word in e.name.lower()]
        if not found:
            raise RequestError(f"controls[{index}].model", f"name a ControlNet model (known: {known})")
        return found[0]
    name, _, hashed = wanted.partition(" [")
    hashed = hashed.rstrip("]").lower()
    for e in entries:
        if name in (e.name, Path(e.location).name, e.title) and (not hashed or e.sha256.startswith(hashed)):
            return e
    for e in entries:  # a hash the library has not computed yet: the name alone decides
        if name in (e.name, Path(e.location).name):
            return e
    raise RequestError(f"controls[{index}].model", f"ControlNet not found: {wanted} (known: {known})")


def load_controlnet(entry: Any, like: Any) -> Any:
    """A diffusers ControlNetModel from a library entry, on the UNet `like`'s device and dtype."""
    from diffusers import ControlNetModel

    folder = Path(entry.location)
    folder = folder if folder.is_dir() else folder.parent
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"ControlNet {entry.name}: single-file ControlNets are not supported yet; "
            "use a diffusers ControlNet folder (config.json and weights) in models/ControlNet"
        )
    try:
        net = ControlNetModel.from_pretrained(str(folder), torch_dtype=like.dtype)
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelError(
            f"ControlNet {entry.name}: cannot load it ({str(e).splitlines()[0][:200]})"
        ) from None
    return net.to(like.device).eval()


def unit_map(
    unit: ControlUnit, request: Request, source: Any = None, box: Any = None, annotators: Any = None
) -> Any:
    """The unit's control map at the generation size; for "only masked" inpainting (a `box` of the full
    `source` picture is rendered) the map is fitted to the full picture and the same box cut out, as A1111.
    `annotators`: the preprocessor models (Annotators) for the modules that need one."""
    from PIL import Image

    picture = unit.image or request.init_image
    if picture is None:  # for_request refuses this before any work
        raise RequestError("controls", "a unit has no reference picture; give one or use img2img")
    size = (request.width, request.height)
    if box is None or source is None:
        return control_map(picture.to_pil(), unit, size, annotators)
    full = control_map(picture.to_pil(), unit, source.size, annotators)
    return full.crop(tuple(box)).resize(size, Image.Resampling.LANCZOS)


def _family(config: Any) -> str:
    dim = int(getattr(config, "cross_attention_dim", 0) or 0)
    xl = getattr(config, "addition_embed_type", None) == "text_time"
    return "SDXL" if xl else {768: "SD 1.x", 1024: "SD 2.x"}.get(dim, f"cross-attention {dim}")


def _pipeline_class(kind: str, xl: bool) -> Any:
    import diffusers

    name = {"txt2img": "", "img2img": "Img2Img", "inpaint": "Inpaint"}[kind]
    return getattr(diffusers, f"StableDiffusion{'XL' if xl else ''}ControlNet{name}Pipeline")


class ApplyControlNet(Extension):
    """Runs the job's ControlNet units; the ControlNets stay loaded with the model (extras "controlnets")."""

    def __init__(self, units: list[ControlUnit], entries: list[Any], positions: Sequence[int] = ()):
        self.units, self.entries = units, entries
        self.positions = list(positions) or list(range(len(units)))

    @classmethod
    def for_request(cls, request: Request, library: Any) -> ApplyControlNet | None:
        """The units of the request and its `{image:...}` tags; pictures and models found before any work."""
        numbered = job_units(request, library, ip=False)
        if not numbered:
            return None
        units = [u for _, u in numbered]
        for i, unit in numbered:
            unit.validate(i)
            if unit.image is None and request.init_image is None:
                raise RequestError(f"controls[{i}].image", "no reference picture; give one or use img2img")
            if unit.control_mode is ControlMode.prompt:
                raise RequestError(
                    f"controls[{i}].control_mode",
                    f"{unit.control_mode.value!r} is not available yet; use Balanced or ControlNet is more "
                    "important",
                )
        for unit in units:  # a missing preprocessor model is one clear error before any work
            if unit.module in MODEL_MODULES:
                find_annotator(MODEL_MODULES[unit.module][0], library)
        guess = {u.control_mode is ControlMode.controlnet for u in units}
        if len(guess) > 1:
            raise RequestError("controls", "all units need the same control mode for now")
        entries = [find_controlnet(library, u, i) for i, u in numbered]
        return cls(units, entries, [i for i, _ in numbered])

    def pipeline_prepared(self, ctx: RunContext) -> None:
        # 1. the ControlNets, loaded once per model, checked against its family
        cache: dict[str, Any] = ctx.model.extras.setdefault("controlnets", {})
        unet = ctx.pipe.unet
        nets = []
        for entry in self.entries:
            if entry.location not in cache:
                cache[entry.location] = load_controlnet(ctx.library.with_hash(entry), unet)
            net = cache[entry.location]
            if _family(net.config) != _family(unet.config):
                raise ModelError(
                    f"ControlNet {entry.name} is for {_family(net.config)} but the model {ctx.model.name} "
                    f"is {_family(unet.config)}; choose a ControlNet made for {_family(unet.config)}"
                )
            nets.append(net)
        # 2. the mode's ControlNet pipeline over the same components (scheduler and VAE as chosen)
        xl = "XL" in type(ctx.model.pipe).__name__
        pipe = _pipeline_class(ctx.mode.kind, xl).from_pipe(
            ctx.pipe, controlnet=nets[0] if len(nets) == 1 else nets
        )
        pipe.set_progress_bar_config(disable=True)
        ctx.pipe = pipe
        # 3. control maps at the generation size and the units' weights and step ranges
        r = ctx.request
        annotators = Annotators(ctx.library, ctx.device)
        maps = [unit_map(u, r, ctx.source, ctx.preview_box, annotators) for u in self.units]
        one = len(self.units) == 1
        ctx.call_kwargs["image" if ctx.mode.kind == "txt2img" else "control_image"] = maps[0] if one else maps
        weights = [u.weight for u in self.units]
        starts = [u.guidance_start for u in self.units]
        ends = [u.guidance_end for u in self.units]
        ctx.call_kwargs["controlnet_conditioning_scale"] = weights[0] if one else weights
        ctx.call_kwargs["control_guidance_start"] = starts[0] if one else starts
        ctx.call_kwargs["control_guidance_end"] = ends[0] if one else ends
        ctx.call_kwargs["guess_mode"] = self.units[0].control_mode is ControlMode.controlnet
        library = ctx.library
        add_applied(
            ctx,
            [
                AppliedControl(u, e.name, library.with_hash(e).short_hash, p)
                for u, e, p in zip(self.units, self.entries, self.positions, strict=True)
            ],
        )

    def before_encode(self, ctx: RunContext) -> None:
        ctx.prompt = parse_image_tags(ctx.prompt)[0]  # the tags never reach the text encoder
