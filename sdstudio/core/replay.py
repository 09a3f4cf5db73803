"""Replay: a picture's own metadata as a recipe that regenerates it, a pixel comparison, and its lineage.

A recipe comes from sdstudio's JSON chunk (every field, inputs by content hash) or from another tool's
parameters (A1111's infotext and the formats the gallery imports). The model is found by its hash in the
library, inputs in the gallery's input store; recorded fields the studio cannot honour are listed, never dropped.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sdstudio.core.errors import ModelError
from sdstudio.core.gallery.metadata import CHUNK, infotext, parse_infotext
from sdstudio.core.gallery.reading import read_parameters
from sdstudio.core.protocols import Library
from sdstudio.core.request import GeneratedImage, InputImage, Request, Result

if TYPE_CHECKING:
    from PIL.Image import Image

    from sdstudio.core.models.entries import ModelEntry

# Recorded A1111 keys that are not generation parameters: they need no honouring.
_INFORMATIONAL = frozenset({"Version", "Model", "Model hash", "Prompt", "Negative prompt", "Origin"})
# Keys written from what a job applied (its LoRA tags, embeddings, VAE choice), honoured through those.
_DERIVED = frozenset({"Lora hashes", "TI hashes", "VAE", "VAE hash"})
ENVIRONMENT_KEYS = ("device", "dtype", "torch", "diffusers", "transformers", "sdstudio", "python")


class ReplayError(ValueError):
    """A picture cannot be replayed; the message says why and what to do."""


class InputSource(Protocol):
    """Where recorded input pictures are found by their hashes (the gallery store)."""

    def input_image(self, sha256: str) -> InputImage | None: ...

    def picture_with_pixels(self, pixels: str) -> Path | None: ...


@dataclass(frozen=True)
class Recipe:
    """Everything a picture records about how it was made."""

    request: Request  # ready to run (model still as recorded; see find_model)
    tool: str  # "sdstudio", "A1111", ...
    model_name: str = ""
    model_hash: str = ""  # A1111 short hash (10 hex digits) or ""
    parent: str | None = None  # pixel hash of the init picture
    unhonoured: tuple[str, ...] = ()  # recorded fields this studio cannot reproduce
    environment: Mapping[str, str] = field(default_factory=dict)  # device, dtype, library versions
    lora_hashes: Mapping[str, str] = field(default_factory=dict)  # LoRA name -> recorded hash
    origin: Mapping[str, object] = field(default_factory=dict)  # e.g. a training sample's LoRA run and step

    def bind(self, library: Library) -> Request:
        """The request ready for this library: the model found by hash, renamed LoRAs relinked by hash."""
        request = self.request.replace(model=find_model(library, self.model_name, self.model_hash))
        loras = getattr(library, "loras", None)
        if self.lora_hashes and loras is not None:
            from sdstudio.core.lora.relink import relink

            request = request.replace(prompt=relink(request.prompt, dict(self.lora_hashes), loras))
        return request


def read_recipe(
    source: str | Path | bytes, inputs: InputSource | None = None, need_inputs: bool = True
) -> Recipe:
    """The recipe of a picture made by sdstudio or another tool; inputs resolved through `inputs`.

    need_inputs=False: inputs that cannot be found stay None (enough to show a lineage, not to run it).
    """
    try:
        params = read_parameters(source)
    except ValueError as e:
        raise ReplayError(str(e)) from None
    name = "the picture" if isinstance(source, bytes) else str(source)
    if params.request is None:
        raise ReplayError(f"{name}: no generation parameters found (not made by a known tool)")
    if params.tool == "sdstudio":
        return _own_recipe(source, name, inputs, need_inputs)
    recorded = params.extra or parse_infotext(params.infotext)
    model_hash = str(recorded.get("Model hash", "") or "").strip().lower()
    request = params.request.replace(model="")
    if vae := str(recorded.get("VAE", "") or "").strip():  # A1111 names the VAE file it used
        request = request.replace(vae=vae)
    return Recipe(
        request,
        params.tool,
        model_name=params.model,
        model_hash=model_hash,
        unhonoured=unhonoured_fields(recorded, params.request),
        lora_hashes=_lora_hashes(recorded),
    )


def _own_recipe(
    source: str | Path | bytes, name: str, inputs: InputSource | None, need_inputs: bool
) -> Recipe:
    import io

    from PIL import Image

    from sdstudio.core import schema

    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
        text = img.text[CHUNK]
    try:
        payload = schema.migrate(json.loads(text))
    except (ValueError, schema.SchemaError) as e:
        raise ReplayError(f"{name}: its sdstudio record cannot be read ({e})") from None
    raw = payload["request"]
    parent = payload.get("parent") if isinstance(payload.get("parent"), str) else None
    missing: list[str] = []

    def resolve(sha: str) -> InputImage | None:
        found = inputs.input_image(sha) if inputs is not None else None
        if found is None and inputs is not None and parent and _sha(raw.get("init_image")) == sha:
            path = inputs.picture_with_pixels(parent)  # the parent itself, when it is in the gallery
            found = InputImage.from_file(path, "init_image") if path is not None else None
        if found is None:
            missing.append(sha)
        return found

    known = set(Request.__dataclass_fields__)
    unknown = tuple(sorted(k for k in raw if k not in known))
    try:
        request = Request.from_dict(raw, resolve_image=resolve)
    except (TypeError, ValueError, KeyError) as e:
        raise ReplayError(f"{name}: its sdstudio record cannot be read ({e})") from None
    if missing and need_inputs:
        where = "the gallery's input store" if inputs is not None else "no gallery"
        raise ReplayError(
            f"{name}: its input picture(s) {', '.join(s[:12] for s in missing)} are not in {where}; "
            "send the picture used as input to the canvas and generate again, or give --init/--mask"
        )
    env = payload.get("environment")
    return Recipe(
        request,
        "sdstudio",
        model_name=str(payload.get("model_name") or ""),
        model_hash=str(payload.get("model_hash") or ""),
        parent=parent,
        unhonoured=unknown,
        environment={str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {},
        lora_hashes=_lora_hashes(payload),
        origin=dict(payload["origin"]) if isinstance(payload.get("origin"), dict) else {},
    )


def _lora_hashes(extra: Mapping[str, object]) -> dict[str, str]:
    from sdstudio.core.lora.relink import recorded_hashes

    return recorded_hashes(dict(extra))


def _sha(image: object) -> str | None:
    return image.get("sha256") if isinstance(image, dict) else None


def unhonoured_fields(recorded: Mapping[str, object], request: Request) -> tuple[str, ...]:
    """Recorded A1111-style keys that do not come back when the parsed request is written out again."""
    from PIL import Image

    picture = GeneratedImage(Image.new("L", (1, 1)), request.seed, request)  # infotext reads its seed only
    written = parse_infotext(infotext(picture, Result(request, ())))
    out = []
    for key, value in recorded.items():
        if key in _INFORMATIONAL or key in _DERIVED or value in (None, ""):
            continue
        if _norm(written.get(key)) != _norm(value):
            out.append(key)
    return tuple(out)


def _norm(value: object) -> str:
    text = str(value).strip() if value is not None else ""
    try:
        return f"{float(text):g}"
    except ValueError:
        return text


def find_model(library: Library, name: str, short_hash: str) -> str:
    """The library reference of the recorded model: by hash first (renamed files are found), then by name."""
    from sdstudio.core.models.entries import Kind, Source

    if short_hash:
        entries = library.entries(Kind.checkpoint)
        # cheapest first: known hashes, then files named as recorded, then every other file
        for e in entries:
            if e.sha256 and e.sha256.startswith(short_hash):
                return _ref(e)
        stem = Path(name).stem if name else ""
        files = [e for e in entries if e.source is Source.file and not e.sha256]
        files.sort(key=lambda e: (stem not in (e.name, Path(e.location).stem), e.size))
        for e in files:
            try:
                if library.with_hash(e).sha256.startswith(short_hash):
                    return _ref(e)
            except ModelError:
                continue
        was = f" (it was {name!r} when the picture was made)" if name else ""
        raise ModelError(
            f"model not found: hash {short_hash}{was}; add the folder that holds it "
            "(sdstudio models --add-root DIR) or choose another with --model"
        )
    try:
        return _ref(library.resolve(name, known_only=True))
    except ModelError:
        raise ModelError(
            f"model not found: {name!r} (recorded without a hash); add it to the library or choose one with --model"
        ) from None


def _ref(entry: ModelEntry) -> str:
    return entry.name if entry.source.value == "demo" else entry.location


# -- comparing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    identical: bool
    max_difference: int  # 0..255, over every channel
    mean_difference: float
    size_mismatch: bool = False

    def describe(self) -> str:
        if self.size_mismatch:
            return "different size"
        if self.identical:
            return "identical"
        return f"max difference {self.max_difference}/255, mean {self.mean_difference:.3f}/255"


def compare(a: Image, b: Image) -> Comparison:
    """Pixel comparison of two pictures (RGB)."""
    import numpy as np

    if a.size != b.size:
        return Comparison(False, 255, 255.0, size_mismatch=True)
    x = np.asarray(a.convert("RGB"), dtype=np.int16)
    y = np.asarray(b.convert("RGB"), dtype=np.int16)
    d = np.abs(x - y)
    return Comparison(bool(d.max() == 0), int(d.max()), float(d.mean()))


def environment(device: str, dtype: str) -> dict[str, str]:
    """What may change a picture between machines: device, dtype and library versions."""
    from importlib import metadata

    from sdstudio import __version__

    env = {"device": device, "dtype": dtype.replace("torch.", ""), "sdstudio": __version__}
    for lib in ("torch", "diffusers", "transformers"):
        try:
            env[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            env[lib] = ""
    env["python"] = platform.python_version()
    return env


def environment_changes(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """`key: recorded → current` for each environment field that differs."""
    return [
        f"{k}: {recorded[k]} → {current.get(k, '')}"
        for k in ENVIRONMENT_KEYS
        if k in recorded and recorded[k] != current.get(k, "")
    ]


# -- lineage ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    path: Path
    recipe: Recipe


def lineage(path: Path, inputs: InputSource, load: Callable[[Path], Recipe] | None = None) -> list[Step]:
    """The picture's chain of parents back to the first one, first picture first."""
    load = load or (lambda p: read_recipe(p, inputs, need_inputs=False))
    chain: list[Step] = []
    seen: set[Path] = set()
    current: Path | None = Path(path)
    while current is not None and current.resolve() not in seen:
        seen.add(current.resolve())
        recipe = load(current)
        chain.append(Step(current, recipe))
        current = inputs.picture_with_pixels(recipe.parent) if recipe.parent else None
    return chain[::-1]  # chain[0].recipe.parent set: the first parent is not in the gallery
