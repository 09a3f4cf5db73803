"""The generation request: one frozen dataclass tree, the single source of truth of a job."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.samplers import DEFAULT_SAMPLER, SAMPLERS
from sdstudio.core.speed import SPEEDS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from PIL.Image import Image

    from sdstudio.core.control.extension import AppliedControl
    from sdstudio.core.control.unit import ControlUnit
    from sdstudio.core.lora.session import AppliedLora

MAX_SIDE = 4096
MAX_STEPS = 150
MAX_BATCH_SIZE = 16
MAX_BATCH_COUNT = 1000
MAX_SEED = 2**64 - 1  # ComfyUI writes 64-bit seeds and torch's CPU generator takes them
RANDOM_SEEDS = 2**32  # random seeds stay 32-bit, as A1111's


def size_for_picture(width: int, height: int, long_side: int = 1024) -> tuple[int, int]:
    """A generation size for a picture: its own aspect, long side at most `long_side`, multiples of 8."""
    scale = min(1.0, long_side / max(width, height, 1))
    w, h = (max(64, min(MAX_SIDE, int(v * scale) // 8 * 8)) for v in (width, height))
    return w, h


class Mode(str, Enum):
    txt2img = "txt2img"
    img2img = "img2img"
    inpaint = "inpaint"


class InpaintArea(str, Enum):
    whole = "whole"
    only_masked = "only_masked"


class RequestError(ValueError):
    """An invalid request; `field` names the offending field and the message says how to fix it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ImageTooLarge(RequestError):
    """An input picture over the pixel limit (HTTP 413), told from its header before decoding."""


def open_image(data: bytes, what: str = "image", max_pixels: int | None = None) -> Image:
    """Decode untrusted picture bytes fully; every failure is a RequestError naming `what`.
    The pixel count is checked from the header first, and Pillow's decompression-bomb guard answers too."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        if max_pixels is not None and img.width * img.height > max_pixels:
            raise ImageTooLarge(
                what, f"image has {img.width * img.height:,} pixels; the limit is {max_pixels:,}"
            )
        img.load()
        return img
    except RequestError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(what, f"image is too large to decode ({e})") from None
    except UnidentifiedImageError:
        raise RequestError(what, "not a readable image (unknown or corrupt format)") from None
    except Exception as e:  # Pillow's decoders raise many types on corrupt input (OSError, SyntaxError, ...)
        raise RequestError(what, f"not a readable image ({type(e).__name__}: {e})") from None


def fields_to_dict(obj: DataclassInstance, images: str = "base64") -> JsonObject:
    """A frozen dataclass (Request, ControlUnit) as plain JSON: enums by value, pictures by InputImage.to_json,
    tuples as lists (of their items' to_dict where they have one)."""
    out: JsonObject = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, Enum):
            v = v.value
        elif isinstance(v, InputImage):
            v = v.to_json(images)
        elif isinstance(v, tuple):
            v = [u.to_dict(images) if hasattr(u, "to_dict") else u for u in v]
        out[f.name] = v
    return out


@dataclass(frozen=True, eq=False)
class InputImage:
    """An input picture (init image or mask) held as PNG bytes, so requests stay hashable and serialisable."""

    png: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.png).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InputImage) and self.png == other.png

    def __hash__(self) -> int:
        return hash(self.png)

    def __repr__(self) -> str:
        return f"InputImage({self.width}x{self.height}, sha256={self.sha256[:12]})"

    @classmethod
    def from_pil(cls, image: Image) -> InputImage:
        buf = io.BytesIO()
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image.save(buf, format="PNG")
        return cls(buf.getvalue(), image.width, image.height)

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "image") -> InputImage:
        """Decode any format Pillow reads; a corrupt file raises RequestError naming `what`."""
        with open_image(data, what) as img:
            return cls.from_pil(img)

    @classmethod
    def from_file(cls, path: str | Path, what: str = "image") -> InputImage:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise RequestError(what, f"cannot read {path}: {e.strerror or e}") from None
        try:
            return cls.from_bytes(data, what)
        except RequestError as e:
            raise RequestError(what, f"{path} is {e.message}") from None

    def to_pil(self) -> Image:
        from PIL import Image

        img = Image.open(io.BytesIO(self.png))
        img.load()
        return img

    def to_base64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")

    def to_json(self, images: str = "base64") -> dict[str, object]:
        """Its hash and size, and with images="base64" its PNG (what to_dict writes for a picture)."""
        out: dict[str, object] = {"sha256": self.sha256, "width": self.width, "height": self.height}
        return out | ({"png": self.to_base64()} if images == "base64" else {})

    @classmethod
    def from_json(
        cls, value: object, what: str, resolve_image: Callable[[str], InputImage | None] | None = None
    ) -> InputImage | None:
        """Inverse of to_json (also a bare base64 string); a hash alone is looked up with resolve_image."""
        if isinstance(value, dict) and "png" in value:
            return cls.from_base64(value["png"], what)
        if isinstance(value, dict) and resolve_image is not None:
            return resolve_image(value["sha256"])
        if isinstance(value, str):
            return cls.from_base64(value, what)
        return None

    @classmethod
    def from_base64(cls, text: str, what: str = "image") -> InputImage:
        if text.startswith("data:"):
            text = text.split(",", 1)[-1]
        try:
            data = base64.b64decode(text, validate=False)
        except (ValueError, TypeError) as e:
            raise RequestError(what, f"invalid base64 ({e})") from None
        return cls.from_bytes(data, what)


@dataclass(frozen=True)
class Request:
    """One generation job. Seed -1 means random; results record the resolved seed."""

    prompt: str = ""
    negative_prompt: str = ""
    mode: Mode = Mode.txt2img
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    seed: int = -1
    batch_size: int = 1
    batch_count: int = 1
    sampler: str = DEFAULT_SAMPLER
    strength: float = 0.75
    init_image: InputImage | None = None
    mask: InputImage | None = None
    mask_blur: int = 4
    inpaint_area: InpaintArea = InpaintArea.whole
    inpaint_padding: int = 32
    clip_skip: int = 1
    model: str = ""
    styles: tuple[str, ...] = ()
    # variation seeds (A1111): the noise blends towards the subseed's; resize draws it at another size
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_w: int = 0
    seed_resize_from_h: int = 0
    # hires fix (txt2img): first pass at width x height, upscale, second pass at `strength`
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_upscaler: str = "Latent"
    hr_second_pass_steps: int = 0
    speed: str = "standard"  # "fast": compiled, fused attention (CUDA), bf16 UNet (CPU); see core/speed
    vae: str = ""  # "" the model's remembered choice, "Automatic", "None" or a VAE file name (A1111 sd_vae)
    controls: tuple[ControlUnit, ...] = ()  # ControlNet units (core/control); `{image}` tags add more

    # -- derived ---------------------------------------------------------------------------------
    @property
    def images_total(self) -> int:
        return self.batch_size * self.batch_count

    def replace(self, **changes: object) -> Request:
        copy_with: Callable[..., Request] = dataclasses.replace  # the values are checked by validate()
        return copy_with(self, **changes)

    # -- validation ------------------------------------------------------------------------------
    def validate(self) -> Request:
        """Check every field before heavy work; raises RequestError naming the field and the fix."""
        if not isinstance(self.mode, Mode):
            raise RequestError("mode", f"must be one of {', '.join(m.value for m in Mode)}")
        for name in ("width", "height"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 64 or v > MAX_SIDE:
                raise RequestError(name, f"{v} is out of range; use 64 to {MAX_SIDE} pixels")
            if v % 8:
                lo, hi = v - v % 8, v - v % 8 + 8
                raise RequestError(name, f"{v} is not a multiple of 8; use {lo} or {hi}")
        if not isinstance(self.steps, int) or not 1 <= self.steps <= MAX_STEPS:
            raise RequestError("steps", f"{self.steps} is out of range; use 1 to {MAX_STEPS}")
        if not 0.0 <= float(self.cfg_scale) <= 30.0:
            raise RequestError("cfg_scale", f"{self.cfg_scale} is out of range; use 0 to 30")
        if not isinstance(self.seed, int) or not -1 <= self.seed <= MAX_SEED:
            raise RequestError("seed", f"{self.seed} is out of range; use -1 (random) or 0 to {MAX_SEED}")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise RequestError("batch_size", f"{self.batch_size} is out of range; use 1 to {MAX_BATCH_SIZE}")
        if not isinstance(self.batch_count, int) or not 1 <= self.batch_count <= MAX_BATCH_COUNT:
            raise RequestError(
                "batch_count", f"{self.batch_count} is out of range; use 1 to {MAX_BATCH_COUNT}"
            )
        if self.sampler not in SAMPLERS:
            raise RequestError("sampler", f"unknown sampler {self.sampler!r}; known: {', '.join(SAMPLERS)}")
        if self.speed not in SPEEDS:
            raise RequestError("speed", f"unknown speed {self.speed!r}; use {' or '.join(SPEEDS)}")
        if not 0.0 <= float(self.strength) <= 1.0:
            raise RequestError("strength", f"{self.strength} is out of range; use 0 to 1")
        if not isinstance(self.mask_blur, int) or not 0 <= self.mask_blur <= 64:
            raise RequestError("mask_blur", f"{self.mask_blur} is out of range; use 0 to 64 pixels")
        if not isinstance(self.inpaint_padding, int) or not 0 <= self.inpaint_padding <= 256:
            raise RequestError(
                "inpaint_padding", f"{self.inpaint_padding} is out of range; use 0 to 256 pixels"
            )
        if not isinstance(self.clip_skip, int) or not 1 <= self.clip_skip <= 12:
            raise RequestError("clip_skip", f"{self.clip_skip} is out of range; use 1 to 12")
        if self.mode is Mode.txt2img:
            if self.init_image is not None or self.mask is not None:
                raise RequestError("mode", "txt2img takes no init image or mask; use img2img or inpaint")
        else:
            if self.init_image is None:
                raise RequestError(
                    "init_image", f"{self.mode.value} needs an init image; give one or use txt2img"
                )
            if int(self.steps * float(self.strength)) < 1:  # diffusers runs int(steps * strength) steps
                fix = (
                    f"use at least {math.ceil(1 / float(self.strength))} steps or a higher strength"
                    if self.strength > 0
                    else "use a strength above 0"
                )
                raise RequestError(
                    "strength",
                    f"{self.steps} steps at strength {self.strength:g} leave no step to run; {fix}",
                )
        if self.mode is Mode.inpaint:
            if self.mask is None:
                raise RequestError("mask", "inpaint needs a mask; paint one or use img2img")
            init = self.init_image
            assert init is not None  # checked above for img2img and inpaint
            if (self.mask.width, self.mask.height) != (init.width, init.height):
                raise RequestError(
                    "mask",
                    f"mask is {self.mask.width}x{self.mask.height} but the image is "
                    f"{init.width}x{init.height}; they must be the same size",
                )
        elif self.mask is not None:
            raise RequestError("mask", f"{self.mode.value} takes no mask; use inpaint")
        from sdstudio.core.hires import validate_hires
        from sdstudio.core.variation import validate_variation

        validate_variation(self)
        validate_hires(self)
        for i, unit in enumerate(self.controls):
            unit.validate(i)
        return self

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self, images: str = "base64") -> JsonObject:
        """Plain JSON-able dict. images="base64" embeds input pictures, "sha256" stores only their hashes."""
        return fields_to_dict(self, images)

    @classmethod
    def from_dict(
        cls, data: JsonObject, resolve_image: Callable[[str], InputImage | None] | None = None
    ) -> Request:
        """Inverse of to_dict; unknown keys are ignored. Hash-only images are looked up with resolve_image."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: JsonObject = {}
        for key, value in data.items():
            if key not in names:
                continue
            if key == "mode":
                value = Mode(value)
            elif key == "inpaint_area":
                value = InpaintArea(value)
            elif key in ("init_image", "mask"):
                value = InputImage.from_json(value, key, resolve_image)
            elif key == "styles":
                value = tuple(value)
            elif key == "controls":
                from sdstudio.core.control.unit import controls_from_list

                value = controls_from_list(value, resolve_image)
            elif key in ("cfg_scale", "strength", "subseed_strength", "hr_scale"):
                value = float(value)
            elif key == "enable_hr":
                value = bool(value)
            kwargs[key] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class Progress:
    """One sampling step of a running job."""

    step: int
    total: int
    elapsed: float
    eta: float
    preview: Image | None = field(default=None, compare=False)  # small picture from the latents
    batch_index: int = 0
    batch_count: int = 1
    phase: str = "sampling"  # "hires" (second pass), "download" (step/total: files of a hub model), "frames",
    # "compile" (step 0: the fast path compiling, see `message`)
    preview_box: tuple[int, int, int, int] | None = (
        None  # where the preview lies in the picture (only masked)
    )
    message: str = ""  # what happens now, for phases with no steps yet ("compile")

    @property
    def fraction(self) -> float:
        done = self.batch_index * self.total + self.step
        return done / max(1, self.total * self.batch_count)


@dataclass(frozen=True, eq=False)
class GeneratedImage:
    """One output picture; `request` alone reproduces it (its own seed, batch of one)."""

    image: Image
    seed: int
    request: Request
    index: int = 0


@dataclass(frozen=True, eq=False)
class Result:
    request: Request  # the job as run, seed resolved
    images: tuple[GeneratedImage, ...]
    model_name: str = ""
    model_hash: str = ""
    elapsed: float = 0.0
    loras: tuple[AppliedLora, ...] = ()  # per LoRA the job applied
    embeddings: tuple[tuple[str, str], ...] = ()  # (name, sha256) per textual-inversion embedding used
    vae_name: str = ""  # the chosen VAE's file name ("" = the model's own)
    vae_hash: str = ""  # its sha256
    controlnets: tuple[AppliedControl, ...] = ()  # per unit that ran
    environment: dict[str, str] = field(default_factory=dict, compare=False)  # device, dtype, versions
    peak_memory: int = 0  # bytes of device memory at the job's peak (CUDA; 0: not measured)
    # how the pictures were made beyond the request, e.g. a training sample: {"text": "trained LoRA cat step
    # 400", "lora": "cat", "step": 400, "run": state folder}; kept in the picture and shown in its lineage
    origin: JsonObject = field(default_factory=dict, compare=False)
