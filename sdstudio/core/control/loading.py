"""A unit's ControlNet: found in the library by name or A1111's `name [hash]`, loaded from a diffusers folder or
from a single file (A1111's `.safetensors` / `.pth`, original or diffusers key names) offline with the bundled
configs in resources/model-configs/controlnet, its family checked against the base model's."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core import paths
from sdstudio.core.control.preprocess import MODEL_WORDS
from sdstudio.core.control.unit import ControlUnit
from sdstudio.core.errors import ModelError
from sdstudio.core.models.detect import controlnet_family
from sdstudio.core.models.entries import Family, ModelEntry
from sdstudio.core.models.hashing import legacy_hash
from sdstudio.core.request import RequestError

if TYPE_CHECKING:
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    from sdstudio.core.protocols import Library


NO_MODEL = ("", "None", "none")  # webuiapi sends model="None" for "no model chosen"
PICKLES = (".pth", ".pt", ".ckpt", ".bin")
ARCH = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sd2-v": "SD 2.x", "sdxl": "SDXL"}  # bundled config -> family


def listed_name(entry: ModelEntry) -> str:
    """The A1111 ControlNet extension's model title, `name [hash]` (its old 8-digit short hash)."""
    try:
        return f"{entry.name} [{legacy_hash(Path(entry.location))}]"
    except OSError:
        return entry.name


def find_controlnet(library: Library, unit: ControlUnit, index: int) -> ModelEntry:
    """The library's ControlNet entry for a unit: its model by name, `name [hash]` or file name; with no model
    named, the first ControlNet whose name contains the module (e.g. `control_v11p_sd15_canny`). A broken
    file is refused here, naming it."""
    from sdstudio.core.models.entries import Kind

    entries = library.entries(Kind.controlnet)
    known = ", ".join(e.name for e in entries[:12]) or "none; put ControlNets in models/ControlNet"
    wanted = unit.model.strip()
    found: ModelEntry | None = None
    if wanted in NO_MODEL:
        # named like the module: depth_anything -> depth, tile_resample -> tile, inpaint_only -> inpaint
        stem = MODEL_WORDS.get(unit.module, unit.module.split("_")[0])
        named = [e for e in entries if unit.module != "none" and stem in e.name.lower()]
        if not named:
            raise RequestError(f"controls[{index}].model", f"name a ControlNet model (known: {known})")
        found = named[0]
    else:
        name, _, hashed = wanted.partition(" [")
        hashed = hashed.rstrip("]").lower()
        same = [e for e in entries if name in (e.name, Path(e.location).name, e.title)]
        hashes = [e for e in same if hashed and (e.sha256.startswith(hashed) or short_hash(e) == hashed)]
        found = next(iter(hashes or same), None)  # a hash the file no longer has: the name alone decides
    if found is None:
        raise RequestError(f"controls[{index}].model", f"ControlNet not found: {wanted} (known: {known})")
    if found.note:
        raise ModelError(f"ControlNet {found.location}: {found.note}")
    return found


def short_hash(entry: ModelEntry) -> str:
    """The entry's hash as the A1111 ControlNet extension shows it ("" when unreadable)."""
    try:
        return legacy_hash(Path(entry.location))
    except OSError:
        return ""


def same_arch(a: Family, b: Family) -> bool:
    """Whether two families share a UNet layout (SD 2.x and its v-prediction and inpainting variants do)."""
    return ARCH.get(a.base) == ARCH.get(b.base)


def check_family(entry: ModelEntry, family: Family, model: str) -> None:
    """A ControlNet made for another family than the base model's is one clear error (unknown: not checked)."""
    if entry.family.base and family.base and not same_arch(entry.family, family):
        raise ModelError(
            f"ControlNet {entry.name} is for {ARCH[entry.family.base]} but the model {model} is "
            f"{ARCH[family.base]}; choose a ControlNet made for {ARCH[family.base]}"
        )


def load_controlnet(entry: ModelEntry, like: UNet2DConditionModel) -> ControlNetModel:
    """A diffusers ControlNetModel from a library entry, on the UNet `like`'s device and dtype."""
    from diffusers import ControlNetModel

    from sdstudio.core import quiet_libraries

    quiet_libraries()
    location = Path(entry.location)
    folder = location if location.is_dir() else location.parent
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            if (folder / "config.json").is_file():
                net = ControlNetModel.from_pretrained(str(folder), torch_dtype=like.dtype)
            else:
                net = _single_file(entry, location).to(like.dtype)
    except ModelError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelError(f"ControlNet {location}: cannot load it ({str(e).splitlines()[0][:200]})") from None
    return net.to(like.device).eval()


def state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a single-file model; a corrupt or unsafe file is one ModelError naming it."""
    import torch

    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        from sdstudio.core.models.detect import read_header

        read_header(path)  # truncated or not safetensors: named here
        try:
            return load_file(str(path))
        except Exception as e:  # safetensors raises its own error types
            raise ModelError(f"{path}: unreadable safetensors file ({str(e)[:160]})") from None
    if path.suffix.lower() not in PICKLES:
        raise ModelError(f"{path}: not a model file (expected .safetensors or .pth)")
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses code; a broken zip raises its own errors
        raise ModelError(
            f"{path}: cannot open it safely ({str(e).splitlines()[0][:160]}); use its .safetensors version"
        ) from None
    data = data.get("state_dict", data) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelError(f"{path}: not a ControlNet (no tensors by name)")
    return data


def config_dir(entry: ModelEntry, family: Family) -> Path:
    """The diffusers config for a single file: a sibling `NAME.config/config.json`, else the bundled one."""
    custom = Path(entry.location).with_suffix(".config")
    if (custom / "config.json").is_file():
        return custom
    if not family.base:
        raise ModelError(
            f"ControlNet {entry.location}: cannot tell its model family (SD 1.x, SD 2.x or SDXL) from its "
            f"weights; put its diffusers config.json in {custom.name}/ beside it"
        )
    return paths.resources_dir() / "model-configs" / "controlnet" / family.base.removesuffix("-v")


def _single_file(entry: ModelEntry, path: Path) -> ControlNetModel:
    """1. read the tensors, 2. the family's config, 3. original key names converted by diffusers, 4. strict load."""
    import torch
    from diffusers import ControlNetModel
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    state = state_dict(path)
    family = controlnet_family({k: {"shape": list(v.shape)} for k, v in state.items()})
    config = dict(ControlNetModel.load_config(str(config_dir(entry, family))))
    diffusers_keys = "time_embedding.linear_1.weight" in state
    converted = dict(state) if diffusers_keys else convert_controlnet_checkpoint(state, config)
    if not diffusers_keys:  # diffusers' converter leaves SDXL's added embedding out
        prefix = "control_model." if any(k.startswith("control_model.") for k in state) else ""
        for new, old in (("linear_1", "0.0"), ("linear_2", "0.2")):
            for p in ("weight", "bias"):
                if f"{prefix}label_emb.{old}.{p}" in state:
                    converted[f"add_embedding.{new}.{p}"] = state[f"{prefix}label_emb.{old}.{p}"]
    with torch.device("meta"):
        net = ControlNetModel.from_config(config)
    missing = sorted(set(net.state_dict()) - set(converted))
    unexpected = sorted(set(converted) - set(net.state_dict()))
    if missing or unexpected:
        raise ModelError(
            f"ControlNet {path}: its weights do not fit the {ARCH.get(family.base, 'configured')} ControlNet "
            f"layout ({len(missing)} missing, e.g. {missing[:2]}; {len(unexpected)} unexpected, e.g. "
            f"{unexpected[:2]}); put its diffusers config.json in {path.with_suffix('.config').name}/ beside it"
        )
    try:
        net.load_state_dict({k: v.float() for k, v in converted.items()}, strict=True, assign=True)
    except RuntimeError as e:  # shapes: another size of the same family (SDXL "small" / "mid")
        raise ModelError(
            f"ControlNet {path}: its weights do not fit the {ARCH.get(family.base, 'configured')} ControlNet "
            f"layout ({str(e).splitlines()[-1].strip()[:160]}); put its diffusers config.json in "
            f"{path.with_suffix('.config').name}/ beside it"
        ) from None
    return net
