"""The IP-Adapter engine extension: the job's IP-Adapter units (ControlNet units with an `ip-adapter_*` module,
and `{image:...:reference|style|composition}` tags) load their adapters into the loaded UNet's cross-attention
(diffusers' IP-Adapter processors, no peft), feed the image encoder's embeddings to every denoise pass, weight
each layer by the unit's kind and step range, and put the UNet back exactly as it was after the job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sdstudio.core.control.extension import AppliedControl, add_applied, job_units
from sdstudio.core.control.ip_files import AdapterSpec, adapter_spec, load_image_encoder, read_adapter
from sdstudio.core.control.ip_library import find_image_encoder, find_ip_adapter
from sdstudio.core.control.ipadapter import check_module, layer_weight, step_active
from sdstudio.core.control.loading import short_hash
from sdstudio.core.control.tags import parse_image_tags
from sdstudio.core.control.unit import ControlUnit
from sdstudio.core.engine.hooks import BatchContext, Extension, RunContext, UNetCall
from sdstudio.core.errors import ModelError
from sdstudio.core.request import Request, RequestError

if TYPE_CHECKING:
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import AttentionProcessor
    from PIL.Image import Image
    from transformers import CLIPVisionModelWithProjection

    from sdstudio.core.engine.model import ModelExtras
    from sdstudio.core.models.entries import ModelEntry
    from sdstudio.core.protocols import Library


CROSS_FAMILIES = {768: "SD 1.x", 1024: "SD 2.x", 2048: "SDXL"}


class IpProcessor(Protocol):
    """A diffusers IP-Adapter attention processor, as far as the extension drives it: one scale per adapter."""

    scale: list[float]


@dataclass
class AttachedAdapters:
    """The adapters built into a model's UNet, kept in its extras ("ip_adapter")."""

    key: tuple[str, ...]  # the adapters' library locations
    proj: torch.nn.Module  # the UNet's encoder_hid_proj with their image projections
    procs: dict[str, IpProcessor]  # the IP-Adapter processors by attention name


def _model_entry(request: Request, library: Library) -> ModelEntry | None:
    """The requested checkpoint's library entry (None: the engine reports it when it loads)."""
    try:
        return library.resolve(request.model)
    except (ModelError, OSError):  # the engine reports a model it cannot find, with its own message
        return None


def unet_family(config: object) -> str:
    """The model family a UNet's diffusers config is made for."""
    if getattr(config, "addition_embed_type", None) == "text_time":
        return "SDXL"
    dim = int(getattr(config, "cross_attention_dim", 0) or 0)
    return CROSS_FAMILIES.get(dim, f"cross-attention {dim}")


def cross_attention_names(unet: UNet2DConditionModel) -> list[str]:
    """The UNet's cross-attention layers (not a plus adapter's own resampler attention)."""
    return [
        n
        for n in unet.attn_processors
        if not n.endswith("attn1.processor")
        and "motion_modules" not in n
        and not n.startswith("encoder_hid_proj")
    ]


def check_family(name: str, spec: AdapterSpec, unet: UNet2DConditionModel, model_name: str) -> None:
    """An adapter made for another base model (cross-attention width or layer count) is one clear error."""
    layers = len(cross_attention_names(unet))
    if spec.cross_dim != unet.config.cross_attention_dim or spec.layers != layers:
        made = CROSS_FAMILIES.get(spec.cross_dim, f"cross-attention {spec.cross_dim}")
        if spec.cross_dim == unet.config.cross_attention_dim:
            made = f"{made} with {spec.layers} attention layers"
        model = unet_family(unet.config)
        raise ModelError(
            f"IP-Adapter {name} is for {made} but the model {model_name} is {model} ({layers} attention "
            f"layers); choose an IP-Adapter made for {model}"
        )


def attach(
    extras: ModelExtras, unet: UNet2DConditionModel, entries: list[ModelEntry]
) -> dict[str, IpProcessor]:
    """Put the adapters' processors and image projection into the UNet (built once per model and set of
    adapters, kept in the model's extras); returns the IP-Adapter processors by attention name."""
    key = tuple(e.location for e in entries)
    cached = extras.get("ip_adapter")
    original = dict(unet.attn_processors)
    if not isinstance(cached, AttachedAdapters) or cached.key != key:
        extras.pop("ip_adapter", None)  # one set of adapters stays loaded with the model
        unet._load_ip_adapter_weights(
            [read_adapter(Path(e.location)) for e in entries], low_cpu_mem_usage=False
        )
        names = cross_attention_names(unet)
        cached = AttachedAdapters(
            key, unet.encoder_hid_proj, {n: p for n, p in unet.attn_processors.items() if n in names}
        )
        extras["ip_adapter"] = cached
    # the UNet's own layers only (a plus adapter's resampler has attention of its own); self-attention keeps
    # its processors
    unet.encoder_hid_proj = None
    unet.set_attn_processor({**original, **cached.procs})
    unet.encoder_hid_proj = cached.proj
    unet.config.encoder_hid_dim_type = "ip_image_proj"
    return dict(cached.procs)


def image_embeds(
    encoder: CLIPVisionModelWithProjection, picture: Image, hidden: bool, cfg: bool, dtype: torch.dtype
) -> torch.Tensor:
    """What diffusers' pipelines compute from `ip_adapter_image` for one adapter: ([uncond,] cond) stacked."""
    import torch

    try:
        from transformers import CLIPImageProcessorPil as Processor  # the PIL path, no torchvision
    except ImportError:  # older transformers: the PIL one is CLIPImageProcessor itself
        from transformers import CLIPImageProcessor as Processor

    size = encoder.config.image_size
    pixels = Processor(size=size, crop_size=size)(picture, return_tensors="pt").pixel_values
    pixels = pixels.to(device=encoder.device, dtype=encoder.dtype)
    with torch.inference_mode():
        if hidden:  # plus / full face: the penultimate hidden states, of a black picture for the negative
            cond = encoder(pixels, output_hidden_states=True).hidden_states[-2]
            uncond = encoder(torch.zeros_like(pixels), output_hidden_states=True).hidden_states[-2]
        else:
            cond = encoder(pixels).image_embeds
            uncond = torch.zeros_like(cond)
    out = torch.cat([uncond[None], cond[None]]) if cfg else cond[None]
    return out.to(dtype=dtype)


def ip_models(
    library: Library, request: Request, units: list[tuple[int, ControlUnit]]
) -> tuple[list[ModelEntry], list[ModelEntry]]:
    """The library's adapter and image encoder of each numbered IP-Adapter unit (clear errors, nothing loaded)."""
    model = _model_entry(request, library)
    family = model.family if model is not None else None
    adapters, encoders = [], []
    for i, unit in units:
        adapter = find_ip_adapter(library, unit, i, family)
        made, base = getattr(adapter.family, "base", ""), getattr(family, "base", "")
        if (
            made and base and model is not None and made != base
        ):  # both known from their files' headers: refused before loading
            raise ModelError(
                f"IP-Adapter {adapter.name} is for {adapter.family.value} but the model {model.name} is "
                f"{model.family.value}; choose an IP-Adapter made for {model.family.value}"
            )
        spec = adapter_spec(Path(adapter.location))
        if spec.variant == "face id":
            raise ModelError(
                f"IP-Adapter {adapter.name} is a FaceID adapter: it needs insightface face embeddings, "
                "which sdstudio does not compute; use a plain, plus or plus-face IP-Adapter"
            )
        adapters.append(adapter)
        encoders.append(find_image_encoder(library, adapter, spec, unit))
    return adapters, encoders


class ApplyIpAdapter(Extension):
    """Runs the job's IP-Adapter units; adapters and image encoders stay loaded with the model (extras)."""

    def __init__(
        self, units: list[tuple[int, ControlUnit]], adapters: list[ModelEntry], encoders: list[ModelEntry]
    ):
        self.units, self.adapters, self.encoders = units, adapters, encoders
        self.specs = [adapter_spec(Path(a.location)) for a in adapters]
        # the UNet as it was: its processors, encoder_hid_proj and config.encoder_hid_dim_type (after_run)
        self._saved: (
            tuple[UNet2DConditionModel, dict[str, AttentionProcessor], torch.nn.Module | None, str | None]
            | None
        ) = None
        self._procs: dict[str, IpProcessor] = {}
        self._base: dict[str, list[float]] = {}
        self._flags: tuple[bool, ...] = ()
        self._embeds: list[torch.Tensor] = []

    @classmethod
    def for_request(cls, request: Request, library: Library) -> ApplyIpAdapter | None:
        """The request's IP-Adapter units; pictures, adapters and image encoders found before any work."""
        units = job_units(request, library, ip=True)
        if not units:
            return None
        for i, unit in units:
            unit.validate(i)
            check_module(unit, f"controls[{i}]")
            if unit.image is None and request.init_image is None:
                raise RequestError(f"controls[{i}].image", "no reference picture; give one or use img2img")
        adapters, encoders = ip_models(library, request, units)
        return cls(units, adapters, encoders)

    def pipeline_prepared(self, ctx: RunContext) -> None:
        unet = ctx.pipe.unet
        # 1. every adapter made for this model's family, before anything changes
        for adapter, spec in zip(self.adapters, self.specs, strict=True):
            check_family(adapter.name, spec, unet, ctx.model.name)
        # 2. the image embeddings (the encoders load once per model)
        cache: dict[str, CLIPVisionModelWithProjection] = ctx.model.extras.setdefault("ip_encoders", {})
        cfg = ctx.request.cfg_scale > 1 and unet.config.time_cond_proj_dim is None
        self._embeds = []
        for (_, unit), spec, entry in zip(self.units, self.specs, self.encoders, strict=True):
            if entry.location not in cache:
                cache[entry.location] = load_image_encoder(Path(entry.location), unet.device, unet.dtype)
            picture = (unit.image or ctx.request.init_image).to_pil().convert("RGB")  # type: ignore[union-attr]
            hidden = spec.needs == "hidden"
            self._embeds.append(image_embeds(cache[entry.location], picture, hidden, cfg, unet.dtype))
        # 3. the adapters into the UNet (undone in after_run), each layer weighted by its unit's kind
        self._saved = (
            unet,
            dict(unet.attn_processors),
            unet.encoder_hid_proj,
            unet.config.encoder_hid_dim_type,
        )
        self._procs = attach(ctx.model.extras, unet, self.adapters)
        xl = unet_family(unet.config) == "SDXL"
        self._base = {
            name: [layer_weight(name, u.ip_kind, xl, u.weight) for _, u in self.units] for name in self._procs
        }
        self._set_scales(tuple(True for _ in self.units))
        add_applied(
            ctx,
            [
                AppliedControl(u, a.name, short_hash(a), i)  # as /controlnet/model_list names it
                for (i, u), a in zip(self.units, self.adapters, strict=True)
            ],
        )

    def before_encode(self, ctx: RunContext) -> None:
        ctx.prompt = parse_image_tags(ctx.prompt)[0]  # the tags never reach the text encoder

    def before_batch(self, ctx: RunContext, batch: BatchContext) -> None:
        batch.kwargs["ip_adapter_image_embeds"] = list(self._embeds)  # every pass of the batch (hires too)

    def pre_unet(self, ctx: RunContext, call: UNetCall) -> None:
        total = int(getattr(call.denoise.pipe, "num_timesteps", 0) or call.denoise.steps)
        flags = tuple(step_active(call.index, total, u.guidance_start, u.guidance_end) for _, u in self.units)
        if flags != self._flags:
            self._set_scales(flags)

    def _set_scales(self, flags: tuple[bool, ...]) -> None:
        for name, proc in self._procs.items():
            for i, on in enumerate(flags):
                proc.scale[i] = self._base[name][i] if on else 0.0
        self._flags = flags

    def after_run(self, ctx: RunContext) -> None:
        if self._saved is None:
            return
        unet, procs, proj, hid_type = self._saved
        unet.encoder_hid_proj = proj  # first: a plus adapter's resampler has attention layers of its own
        unet.config.encoder_hid_dim_type = hid_type
        unet.set_attn_processor(procs)
        self._saved = None
