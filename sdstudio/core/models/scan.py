"""Model roots scanned in place: A1111 and ComfyUI installs, or plain folders of checkpoints."""

from __future__ import annotations

import logging
from pathlib import Path

from sdstudio.core.errors import ModelError
from sdstudio.core.models.detect import detect_file, detect_kind
from sdstudio.core.models.entries import Family, Kind, ModelEntry, Source

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".bin", ".pth")

# (subfolder, kind) per layout; the first layout whose marker folder exists wins.
LAYOUTS: dict[str, list[tuple[str, Kind]]] = {
    "A1111": [
        ("models/Stable-diffusion", Kind.checkpoint),
        ("models/Lora", Kind.lora),
        ("models/LyCORIS", Kind.lora),
        ("models/VAE", Kind.vae),
        ("embeddings", Kind.embedding),
        ("models/ControlNet", Kind.controlnet),
        ("extensions/sd-webui-controlnet/models", Kind.controlnet),
        ("models/ipadapter", Kind.ip_adapter),
        ("models/clip_vision", Kind.clip_vision),
        ("extensions/sd-webui-controlnet/annotator/downloads/clip_vision", Kind.clip_vision),  # clip_h.pth
        ("models/ESRGAN", Kind.upscaler),
        ("models/RealESRGAN", Kind.upscaler),
        ("models/SwinIR", Kind.upscaler),
        ("models/DAT", Kind.upscaler),
        ("models/HAT", Kind.upscaler),
        ("models/ScuNET", Kind.upscaler),
        ("models/VAE-approx", Kind.taesd),
    ],
    "ComfyUI": [
        ("models/checkpoints", Kind.checkpoint),
        ("models/loras", Kind.lora),
        ("models/vae", Kind.vae),
        ("models/embeddings", Kind.embedding),
        ("models/controlnet", Kind.controlnet),
        ("models/ipadapter", Kind.ip_adapter),
        ("models/clip_vision", Kind.clip_vision),
        ("models/upscale_models", Kind.upscaler),
        ("models/vae_approx", Kind.taesd),
    ],
}


def layout_of(root: Path) -> str:
    if (root / "models" / "Stable-diffusion").is_dir():
        return "A1111"
    if (root / "models" / "checkpoints").is_dir():
        return "ComfyUI"
    return "folder"


def scan_root(root: Path) -> list[ModelEntry]:
    """Every model below root, in place; a broken file becomes an entry with a note, never an exception."""
    root = Path(root).expanduser()
    if not root.is_dir():
        log.warning("model root %s does not exist", root)
        return []
    layout = layout_of(root)
    folders = LAYOUTS.get(layout, [(".", Kind.checkpoint)])
    entries: list[ModelEntry] = []
    for sub, kind in folders:
        base = (root / sub).resolve()
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix == ".config":  # configs beside a single-file checkpoint, not a model
                continue
            if path.is_dir() and kind is Kind.checkpoint and (path / "model_index.json").exists():
                entries.append(
                    ModelEntry(path.name, kind, Family.unknown, Source.folder, str(path), 0, root=str(root))
                )
            elif (
                path.is_file()
                and path.suffix.lower() in MODEL_SUFFIXES
                and not _inside_diffusers_folder(path, base)
            ):
                entries.append(file_entry(path, kind, root))
    return entries


def _inside_diffusers_folder(path: Path, base: Path) -> bool:
    return any((p / "model_index.json").exists() for p in path.parents if p != base and base in p.parents)


DEFAULT_WEIGHT_NAMES = ("diffusion_pytorch_model", "model", "pytorch_model")  # diffusers/transformers folders
FOLDER_NAMED = (
    "ip_adapter",
)  # InvokeAI's IP-Adapter folders: <name>/ip_adapter.bin beside image_encoder.txt


def file_entry(path: Path, kind: Kind = Kind.checkpoint, root: Path | str = "") -> ModelEntry:
    # a component folder's weights (taesd/diffusion_pytorch_model.safetensors) are named after the folder
    named_by_folder = path.stem in DEFAULT_WEIGHT_NAMES and (path.parent / "config.json").exists()
    named_by_folder = named_by_folder or path.stem in FOLDER_NAMED
    name = path.parent.name if named_by_folder else path.stem
    try:
        size = path.stat().st_size
        found_kind, family = detect_file(path)
        if kind is Kind.controlnet and path.suffix.lower() != ".safetensors":  # A1111's ip-adapter_*.bin/.pth
            found_kind = detect_kind(path)[0] or found_kind
        note = ""
        if kind is Kind.checkpoint and found_kind is not Kind.checkpoint:
            note = f"looks like a {found_kind.value}, not a checkpoint"
        elif kind in (Kind.controlnet, Kind.ip_adapter) and found_kind is Kind.ip_adapter:
            kind = Kind.ip_adapter  # A1111 keeps both in ControlNet; the family is the adapter's own
        elif kind in (Kind.controlnet, Kind.ip_adapter) and found_kind is Kind.clip_vision:
            kind, family = Kind.clip_vision, Family.unknown  # h94's IP-Adapter folders: models/image_encoder/
        elif kind is not Kind.checkpoint and not (kind is found_kind is Kind.controlnet):
            family = Family.unknown
    except ModelError as e:
        size, family, note = (path.stat().st_size if path.exists() else 0), Family.unknown, str(e)
    # A sibling "<name>.config" folder of diffusers configs overrides the bundled ones (custom architectures).
    custom = path.with_suffix(".config")
    config_dir = str(custom) if (custom / "model_index.json").exists() else ""
    return ModelEntry(
        name, kind, family, Source.file, str(path), size, root=str(root), note=note, config_dir=config_dir
    )
