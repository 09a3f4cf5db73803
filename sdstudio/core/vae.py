"""VAE choice as in A1111: "Automatic" (a VAE named like the checkpoint, else the model's own), "None" (the
model's own) or a file from A1111 `models/VAE`, ComfyUI `models/vae` or the library's own `models/VAE`, or a
diffusers VAE folder; remembered per model in the settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.engine.hooks import Extension, RunContext
from sdstudio.core.errors import ModelError
from sdstudio.core.request import Request

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderKL, DiffusionPipeline

    from sdstudio.core.protocols import Library

log = logging.getLogger(__name__)
AUTOMATIC, NONE = "Automatic", "None"
SUFFIXES = (".safetensors", ".pt", ".ckpt", ".bin")


@dataclass(frozen=True)
class VaeChoice:
    """A VAE file or diffusers folder; `name` is A1111's: the file name with its extension."""

    name: str
    path: Path

    @property
    def is_folder(self) -> bool:
        return self.path.is_dir()


def vae_choices(library: Library) -> list[VaeChoice]:
    """Every VAE in the roots' VAE folders and the library's own models/VAE (subfolders too), by name."""
    from sdstudio.core.models.entries import Kind

    found: dict[str, VaeChoice] = {}
    own = library.settings.library_path() / "models" / "VAE"
    for base in dict.fromkeys(f.resolve() for f in [*library.kind_folders(Kind.vae), own]):
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_dir() and (path / "config.json").is_file():
                found.setdefault(path.name, VaeChoice(path.name, path))
            elif path.is_file() and path.suffix.lower() in SUFFIXES and not _inside_folder_vae(path, base):
                found.setdefault(path.name, VaeChoice(path.name, path))
    return sorted(found.values(), key=lambda c: c.name.lower())


def _inside_folder_vae(path: Path, base: Path) -> bool:
    return any((p / "config.json").is_file() for p in path.parents if base in p.parents or p == base)


def choice_for(library: Library, wanted: str, location: str) -> VaeChoice | None:
    """The VAE a job on the model at `location` uses (None: the model's own); wanted "" is the model's
    remembered choice."""
    name = (wanted or "").strip() or library.settings.vae_by_model.get(location, "") or AUTOMATIC
    if name == NONE:
        return None
    choices = vae_choices(library)
    if name == AUTOMATIC:  # A1111: a VAE whose file name starts with the checkpoint's name
        stem = Path(location).stem if location else ""
        beside = (
            [
                VaeChoice(p.name, p)
                for p in sorted(Path(location).parent.glob(f"{stem}.vae.*"))
                if p.suffix.lower() in SUFFIXES
            ]
            if stem and Path(location).is_file()
            else []
        )
        near = [c for c in choices if stem and c.name.startswith(stem + ".")]
        found = beside + near
        return found[0] if found else None
    for choice in choices:
        if name in (choice.name, Path(choice.name).stem):
            return choice
    known = ", ".join(c.name for c in choices[:12]) or "none"
    raise ModelError(f"VAE not found: {name} (expected Automatic, None or one of: {known})")


def remember(library: Library, model: str, name: str) -> None:
    """Remember the VAE chosen for a model (the settings file is saved)."""
    by_model = library.settings.vae_by_model
    if name in ("", AUTOMATIC):
        by_model.pop(model, None)
    else:
        by_model[model] = name
    library.save_settings()


def load_vae(choice: VaeChoice, like: AutoencoderKL) -> AutoencoderKL:
    """The VAE as a diffusers AutoencoderKL shaped like the model's own `like`, on its device and dtype."""
    from diffusers import AutoencoderKL

    try:
        if choice.is_folder:
            vae = AutoencoderKL.from_pretrained(str(choice.path), torch_dtype=like.dtype)
        else:
            state = _read_state(choice.path)
            if not any(k.startswith("decoder.up_blocks.") for k in state):  # LDM (A1111) key names
                from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

                state = convert_ldm_vae_checkpoint(state, dict(like.config))
            vae = AutoencoderKL.from_config(like.config)
            missing, unexpected = vae.load_state_dict(state, strict=False)
            if missing:
                raise ValueError(f"{len(missing)} weights missing, e.g. {missing[0]}")
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        why = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ModelError(f"VAE {choice.path}: cannot load it for this model ({why})") from None
    return vae.to(device=like.device, dtype=like.dtype).eval()


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    data = torch.load(str(path), map_location="cpu", weights_only=True)
    data = data.get("state_dict", data) if isinstance(data, dict) else {}
    return {k: v for k, v in data.items() if hasattr(v, "shape")}


class VaeSlot:
    """Which VAE a loaded model's pipelines hold now; swaps it per job, the model's own kept aside."""

    def __init__(self, own: AutoencoderKL):
        self.own = own
        self.current: VaeChoice | None = None
        self._cache: tuple[VaeChoice, AutoencoderKL] | None = None

    def use(self, choice: VaeChoice | None, pipes: list[DiffusionPipeline]) -> None:
        """Put the chosen VAE (None: the model's own) into every pipeline of the model."""
        if choice is None:
            vae = self.own
        elif self._cache is not None and self._cache[0] == choice:
            vae = self._cache[1]
        else:
            vae = load_vae(choice, self.own)
            if getattr(self.own, "use_tiling", False):  # the engine's VAE tiling setting carries over
                vae.enable_tiling()
            self._cache = (choice, vae)  # one chosen VAE kept loaded
        for pipe in pipes:
            if getattr(pipe, "vae", None) is not vae:
                pipe.vae = vae
        self.current = choice


class UseVae(Extension):
    """The engine extension that puts the job's VAE into the model's pipelines once they are prepared, and
    records its file name and sha256 (A1111's `VAE` and `VAE hash`)."""

    def __init__(self, wanted: str):
        self.wanted = wanted

    @classmethod
    def for_request(cls, request: Request, library: Library) -> UseVae:
        """Always an extension: a job without a choice puts the remembered (or the model's own) VAE back.
        A named VAE that does not exist is refused before the model loads."""
        if request.vae and request.vae not in (AUTOMATIC, NONE):
            choice_for(library, request.vae, "")
        return cls(request.vae)

    def pipeline_prepared(self, ctx: RunContext) -> None:
        slot = ctx.model.extras.get("vae")
        if slot is None:
            slot = ctx.model.extras["vae"] = VaeSlot(ctx.model.pipe.vae)
        choice = choice_for(ctx.library, self.wanted, ctx.model.ref)
        slot.use(choice, [ctx.model.pipe, *ctx.model.derived.values(), ctx.pipe])
        if choice is not None:
            ctx.record["vae_name"] = choice.name
            ctx.record["vae_hash"] = "" if choice.is_folder else ctx.library.hashes.sha256(choice.path)
