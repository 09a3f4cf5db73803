"""Opening a library entry as a diffusers pipeline: hub ids, diffusers folders, single files offline."""

from __future__ import annotations

import io
import json
import logging
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core import demo, paths
from sdstudio.core.errors import ModelError
from sdstudio.core.jsontypes import Kwargs
from sdstudio.core.models.detect import classify
from sdstudio.core.models.entries import Family, ModelEntry, Source
from sdstudio.core.request import Progress
from sdstudio.core.tokenizer import write_clip_tokenizer

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline


log = logging.getLogger(__name__)
_CONFIG_VERSION = "1"
PICKLE_SUFFIXES = (".ckpt", ".pt", ".bin", ".pth")
INPAINT_CLASS = {
    "StableDiffusionPipeline": "StableDiffusionInpaintPipeline",
    "StableDiffusionXLPipeline": "StableDiffusionXLInpaintPipeline",
}


def config_folder(family: Family, source: Path | None = None) -> Path:
    """A complete diffusers config folder (configs + tokenizers, no weights) for single-file loading.

    Built from the bundled configs in resources/model-configs (or `source`) into the data folder, once.
    """
    base = family.base
    if not base and source is None:
        raise ModelError(f"no bundled configuration for {family.value} checkpoints")
    src = source or paths.resources_dir() / "model-configs" / base
    tag = f"{base or src.name}{'-inpaint' if family.inpaint else ''}"
    if source is not None:
        tag = f"custom-{abs(hash(str(source.resolve()))) % 10**8}-{tag}"
    out = paths.data_dir() / "model-configs" / f"v{_CONFIG_VERSION}" / tag
    if (out / "model_index.json").exists():
        return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    index = json.loads((tmp / "model_index.json").read_text(encoding="utf-8"))
    for name in ("tokenizer", "tokenizer_2"):
        if name in index and not any((tmp / name / f).exists() for f in ("vocab.json", "tokenizer.json")):
            pad = "!" if (name == "tokenizer_2" or base.startswith("sd2")) else "<|endoftext|>"
            write_clip_tokenizer(tmp / name, pad_token=pad)
    if family.inpaint:
        unet_cfg = tmp / "unet" / "config.json"
        cfg = json.loads(unet_cfg.read_text(encoding="utf-8"))
        cfg["in_channels"] = 9
        unet_cfg.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        index["_class_name"] = INPAINT_CLASS.get(index["_class_name"], index["_class_name"])
        (tmp / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _pickle_family(path: Path) -> Family:
    """Check a pickle checkpoint with weights_only loading (never full unpickling) and classify its keys."""
    import torch

    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # weights_only refuses code and unknown objects
        raise ModelError(
            f"{path}: refused to open this pickle checkpoint safely ({str(e).splitlines()[0][:160]}); "
            "use a .safetensors version of the model"
        ) from None
    state = data.get("state_dict", data) if isinstance(data, dict) else {}
    header = {k: {"shape": list(v.shape)} for k, v in state.items() if hasattr(v, "shape")}
    return classify(header)[1]


def load_pipeline(
    entry: ModelEntry,
    *,
    torch_dtype: torch.dtype | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> DiffusionPipeline:
    """The entry as a diffusers pipeline (text-to-image, or inpainting for inpainting checkpoints)."""
    import diffusers

    from sdstudio.core import quiet_libraries

    quiet_libraries()
    location = Path(entry.location).expanduser()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch_dtype is renamed in newer diffusers
            if entry.source is Source.demo:
                folder = demo.demo_path(inpaint=entry.location == demo.DEMO_INPAINT_ID)
                return diffusers.DiffusionPipeline.from_pretrained(str(folder), torch_dtype=torch_dtype)
            if entry.source is Source.folder:
                if not (location / "model_index.json").exists():
                    raise ModelError(f"{location}: not a diffusers model folder (no model_index.json)")
                return diffusers.DiffusionPipeline.from_pretrained(
                    str(location), torch_dtype=torch_dtype, safety_checker=None
                )
            if entry.source is Source.hub:
                downloaded = _download(entry.location, on_progress)
                return diffusers.AutoPipelineForText2Image.from_pretrained(
                    downloaded, torch_dtype=torch_dtype
                )
            return _load_single_file(entry, location, torch_dtype)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError) as e:
        what = f"{location}" if entry.source is not Source.hub else f"hub model {entry.location!r}"
        raise ModelError(f"{what}: cannot load ({str(e).splitlines()[0][:200]})") from None


def _load_single_file(
    entry: ModelEntry, location: Path, torch_dtype: torch.dtype | None
) -> DiffusionPipeline:
    import diffusers

    if not location.is_file():
        raise ModelError(f"{location}: file not found (expected a .safetensors checkpoint)")
    family = entry.family
    if location.suffix.lower() in PICKLE_SUFFIXES:
        family = _pickle_family(location)
    if family in (Family.unknown, Family.sdxl_refiner):
        raise ModelError(
            f"{location}: not a Stable Diffusion checkpoint sdstudio can load "
            f"(expected SD 1.x, SD 2.x or SDXL weights{'; ' + entry.note if entry.note else ''})"
        )
    folder = config_folder(family, Path(entry.config_dir) if entry.config_dir else None)
    cls_name = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))["_class_name"]
    cls = getattr(diffusers, cls_name)
    kwargs: Kwargs = {"config": str(folder), "local_files_only": True, "torch_dtype": torch_dtype}
    if "XL" not in cls_name:
        kwargs["safety_checker"] = None
    return cls.from_single_file(str(location), **kwargs)


def _download(repo_id: str, on_progress: Callable[[Progress], None] | None) -> str:
    """Fetch a hub model into the standard cache (HF_HUB_OFFLINE honoured), reporting files done."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    from tqdm.auto import tqdm

    started = time.perf_counter()

    class _Report(tqdm):  # huggingface_hub drives its bars with this class; the files bar is reported
        def __init__(self, *args: object, **kwargs: object):
            kwargs["file"] = io.StringIO()  # sdstudio shows progress itself
            super().__init__(*args, **kwargs)

        def update(self, n: int | float | None = 1) -> bool | None:
            out = super().update(n)
            if on_progress is not None and self.total and str(self.desc).startswith("Fetching"):
                elapsed = time.perf_counter() - started
                rate = self.n / elapsed if elapsed > 0 else 0
                eta = (self.total - self.n) / rate if rate else 0.0
                on_progress(Progress(int(self.n), int(self.total), elapsed, eta, phase="download"))
            return out

    patterns = ["*.json", "*.txt", "*.model", "*.safetensors"]
    try:
        return snapshot_download(repo_id, allow_patterns=patterns, tqdm_class=_Report)
    except LocalEntryNotFoundError:
        raise ModelError(
            f"hub model {repo_id!r} is not in the local cache and downloads are off (HF_HUB_OFFLINE or no network)"
        ) from None
