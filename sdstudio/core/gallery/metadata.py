"""Image metadata: A1111's `parameters` text, the sdstudio JSON chunk, XMP; reading other tools' PNGs."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio import __version__
from sdstudio.core import schema
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.request import GeneratedImage, InpaintArea, Mode, Request, Result
from sdstudio.core.samplers import DEFAULT_SAMPLER, SAMPLERS, find_sampler

if TYPE_CHECKING:
    from PIL.Image import Image


log = logging.getLogger(__name__)

CHUNK = "sdstudio"
AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
XMP = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    'xmlns:xmp="http://ns.adobe.com/xap/1.0/" Iptc4xmpExt:DigitalSourceType="{source}" xmp:CreatorTool="sdstudio {version}"/>'
    '</rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>'
)
_PARAM = re.compile(r'\s*(\w[\w \-/]{1,80}):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def quote(value: object) -> str:
    """A1111's quoting: values holding `,` `:` or a newline become JSON strings."""
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _num(v: float) -> str:
    return f"{v:g}"


def _hash_list(pairs: Iterable[tuple[str, str]]) -> str | None:
    """A1111's `name: hash, name: hash` (names without `:` and `,`, each once), or None when empty."""
    out: dict[str, str] = {}
    for name, short in pairs:
        out.setdefault(str(name).translate(str.maketrans("", "", ":,")), short)
    return ", ".join(f"{k}: {v}" for k, v in out.items()) or None


def infotext(gen: GeneratedImage, result: Result) -> str:
    """The `parameters` text exactly as A1111 writes it."""
    r = gen.request
    sampler = SAMPLERS.get(r.sampler)
    params: JsonObject = {
        "Steps": r.steps,
        "Sampler": sampler.base if sampler else r.sampler,
        "Schedule type": sampler.schedule if sampler else "Automatic",
        "CFG scale": _num(r.cfg_scale),
        "Seed": gen.seed,
        "Size": f"{r.width}x{r.height}",
        "Model hash": result.model_hash or None,
        "Model": result.model_name or None,
        "VAE hash": result.vae_hash[:10] or None,
        "VAE": result.vae_name or None,
        **variation_params(r),
        "Denoising strength": _num(r.strength) if r.mode is not Mode.txt2img or r.enable_hr else None,
        "Clip skip": r.clip_skip if r.clip_skip > 1 else None,
        "Mask blur": r.mask_blur if r.mode is Mode.inpaint else None,
        "Inpaint area": "Only masked"
        if r.mode is Mode.inpaint and r.inpaint_area is InpaintArea.only_masked
        else None,
        "Masked area padding": r.inpaint_padding
        if r.mode is Mode.inpaint and r.inpaint_area is InpaintArea.only_masked
        else None,
        **hires_params(r),
        "Lora hashes": _hash_list((a.name, a.short_hash) for a in result.loras),
        "TI hashes": _hash_list((name, sha[:12]) for name, sha in result.embeddings),
        **{f"ControlNet {i}": a.infotext() for i, a in enumerate(result.controlnets)},
        "Origin": result.origin.get("text") or None,
        "Version": f"sdstudio {__version__}",
    }
    line = ", ".join(f"{k}: {quote(v)}" for k, v in params.items() if v is not None)
    negative = f"\nNegative prompt: {r.negative_prompt}" if r.negative_prompt else ""
    return f"{r.prompt}{negative}\n{line}"


def variation_params(r: Request) -> JsonObject:
    """A1111's `Variation seed`, `Variation seed strength` and `Seed resize from` entries."""
    resized = r.seed_resize_from_w > 0 and r.seed_resize_from_h > 0
    return {
        "Variation seed": r.subseed if r.subseed_strength else None,
        "Variation seed strength": _num(r.subseed_strength) if r.subseed_strength else None,
        "Seed resize from": f"{r.seed_resize_from_w}x{r.seed_resize_from_h}" if resized else None,
    }


def hires_params(r: Request) -> JsonObject:
    """A1111's `Hires upscale` (or `Hires resize`), `Hires steps` and `Hires upscaler` entries."""
    if not r.enable_hr:
        return {}
    resize = r.hr_resize_x > 0 or r.hr_resize_y > 0
    return {
        "Hires upscale": None if resize else _num(r.hr_scale),
        "Hires resize": f"{r.hr_resize_x}x{r.hr_resize_y}" if resize else None,
        "Hires steps": r.hr_second_pass_steps or None,
        "Hires upscaler": r.hr_upscaler,
    }


def _pair(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) == 2 and all(p.strip().isascii() and p.strip().isdigit() for p in parts):  # not "²"
        return int(parts[0]), int(parts[1])
    return 0, 0


def parse_infotext(text: str) -> JsonObject:
    """A1111 `parameters` text to a dict with "Prompt", "Negative prompt" and each "Key: value"."""
    lines = text.strip().split("\n")
    out: JsonObject = {}
    last = lines[-1] if lines else ""
    found = _PARAM.findall(last)
    if len(found) >= 3:
        lines = lines[:-1]
        for key, value in found:
            value = value.strip()
            if value.startswith('"') and value.endswith('"'):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = value[1:-1]
            out[key.strip()] = value
    prompt, negative, in_negative = list[str](), list[str](), False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].lstrip()
        (negative if in_negative else prompt).append(line)
    out["Prompt"] = "\n".join(prompt).strip()
    out["Negative prompt"] = "\n".join(negative).strip()
    return out


def request_from_params(p: JsonObject) -> Request:
    """A Request from parsed A1111-style parameters; unknown or odd values fall back to defaults."""

    def num(key: str, cast, default):
        try:
            return cast(str(p[key]).strip())
        except (KeyError, ValueError, TypeError):
            return default

    width, height = _pair(str(p.get("Size", "")))
    width, height = (width, height) if width and height else (512, 512)
    resize_w, resize_h = _pair(str(p.get("Seed resize from", "")))
    hr_x, hr_y = _pair(str(p.get("Hires resize", "")))
    hires = any(k in p for k in ("Hires upscale", "Hires resize", "Hires upscaler", "Hires steps"))
    try:
        sampler = find_sampler(str(p.get("Sampler", "")), str(p.get("Schedule type", "")) or None)
    except ValueError:  # a schedule type diffusers has no equivalent for: the sampler's own
        sampler = find_sampler(str(p.get("Sampler", "")))
    strength = num("Denoising strength", float, None)
    return Request(
        prompt=str(p.get("Prompt", "")),
        negative_prompt=str(p.get("Negative prompt", "")),
        steps=num("Steps", int, 20),
        cfg_scale=num("CFG scale", float, 7.0),
        seed=num("Seed", int, -1),
        width=width,
        height=height,
        sampler=sampler.name if sampler else DEFAULT_SAMPLER,
        strength=strength if strength is not None else 0.75,
        clip_skip=num("Clip skip", int, 1),
        model=str(p.get("Model", "")),
        subseed=num("Variation seed", int, -1),
        subseed_strength=num("Variation seed strength", float, 0.0),
        seed_resize_from_w=resize_w,
        seed_resize_from_h=resize_h,
        enable_hr=hires,
        hr_scale=num("Hires upscale", float, 2.0),
        hr_resize_x=hr_x,
        hr_resize_y=hr_y,
        hr_upscaler=str(p.get("Hires upscaler", "Latent")),
        hr_second_pass_steps=num("Hires steps", int, 0),
    )


def png_bytes(gen: GeneratedImage, result: Result) -> bytes:
    """The result as PNG with `parameters`, the sdstudio JSON and XMP (DigitalSourceType) chunks."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", infotext(gen, result))
    payload = schema.dumps(
        gen.request,
        model_name=result.model_name,
        model_hash=result.model_hash,
        loras=[a.to_dict() for a in result.loras],
        embeddings=[{"name": n, "sha256": sha} for n, sha in result.embeddings],
        vae={"name": result.vae_name, "sha256": result.vae_hash} if result.vae_name else None,
        parent=pixel_hash(gen.request.init_image.to_pil()) if gen.request.init_image else None,
        environment=dict(result.environment),  # replay --verify names what differs on another machine
        origin=dict(result.origin) if result.origin else None,  # e.g. a training sample's run and step
    )
    info.add_text(CHUNK, payload)
    info.add_itxt("XML:com.adobe.xmp", XMP.format(source=AI_SOURCE, version=__version__))
    buf = io.BytesIO()
    gen.image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def pixel_hash(image: Image) -> str:
    """Hash of the picture's RGB pixels: the same for a result and for that result used as an input."""
    rgb = image.convert("RGB")
    return hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode() + rgb.tobytes()).hexdigest()


def write_png(path: Path, gen: GeneratedImage, result: Result) -> None:
    """Write a result picture with full metadata to a path the user named (the CLI), atomically."""
    from sdstudio.core.metadata_io import atomic_write

    atomic_write(path, png_bytes(gen, result))


@dataclass
class ImageParameters:
    infotext: str  # A1111-style text (made from the tool's own format where needed)
    request: Request | None
    tool: str  # "sdstudio", "A1111", "ComfyUI", "InvokeAI", "Fooocus", "NovelAI" or "unknown"
    model: str = ""
    parent: str | None = None
    extra: JsonObject = field(default_factory=dict)
