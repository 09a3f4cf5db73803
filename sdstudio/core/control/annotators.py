"""Preprocessor models ("annotators": Depth Anything, ViTPose, a person detector): where their weights are found,
loaded on first use and kept in memory per device; their maps cached on disk by content hash.

Weights are transformers folders (config.json + weights), found in this order: the library's
`models/annotators`, each model root's `models/annotators`, the A1111 ControlNet extension's
`annotator/downloads`, ComfyUI's `custom_nodes/comfyui_controlnet_aux/ckpts`, then the Hugging Face cache; the
hub is asked only when the settings allow network access. The model-free preprocessors never need any of this.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core import paths
from sdstudio.core.control.depth_original import is_original
from sdstudio.core.errors import ModelError
from sdstudio.core.jsontypes import JsonObject, Kwargs

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL.Image import Image
    from transformers.image_processing_utils import BaseImageProcessor

    from sdstudio.core.protocols import Library

log = logging.getLogger(__name__)
VERSION = "1"  # bump when a map's computation changes: older cached maps are then never read
MAX_CACHED_MAPS = 2000  # the oldest maps beyond this many are removed


class AnnotatorMissing(ModelError):
    """No model of a preprocessor's kind was found; the message names where to put one."""


@dataclass(frozen=True)
class AnnotatorSpec:
    """One kind of preprocessor model: how its folder is recognised and where it is expected."""

    kind: str  # "depth", "pose", "detector"
    what: str  # in messages: "Depth Anything"
    model_types: tuple[str, ...]  # config.json model_type values accepted
    folder: str  # the folder name suggested in messages (models/annotators/<folder>)
    hub_ids: tuple[str, ...]  # looked up in the Hugging Face cache; the first is downloaded when allowed
    a1111_folders: tuple[str, ...] = ()  # the A1111 extension's downloads/<folder> of its own checkpoints


SPECS: dict[str, AnnotatorSpec] = {
    "depth": AnnotatorSpec(
        "depth",
        "Depth Anything",
        ("depth_anything",),
        "depth_anything",
        ("depth-anything/Depth-Anything-V2-Small-hf", "LiheYoung/depth-anything-small-hf"),
        ("depth_anything", "depth_anything_v2"),
    ),
    "pose": AnnotatorSpec(
        "pose",
        "ViTPose",
        ("vitpose",),
        "vitpose",
        ("usyd-community/vitpose-base-simple",),
        ("openpose", "dw_openpose", "vitpose"),
    ),
    "detector": AnnotatorSpec(  # optional: people boxes for ViTPose (else the whole picture is one person)
        "detector",
        "a person detector",
        ("rt_detr", "rt_detr_v2", "detr", "conditional_detr", "deformable_detr", "yolos", "d_fine"),
        "person_detector",
        (),
    ),
}


def annotator_dirs(library: Library) -> list[Path]:
    """The folders searched for preprocessor models, in order."""
    settings = library.settings
    out = []
    for root in [settings.library_path(), *(Path(r).expanduser() for r in settings.model_roots)]:
        out += [
            root / "models" / "annotators",
            root / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads",
            root / "extensions-builtin" / "sd-webui-controlnet" / "annotator" / "downloads",
            root / "custom_nodes" / "comfyui_controlnet_aux" / "ckpts",
        ]
    seen: list[Path] = []
    for d in out:
        if d.is_dir() and d not in seen:
            seen.append(d)
    return seen


def _config(path: Path) -> JsonObject:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fits(spec: AnnotatorSpec, config: JsonObject) -> bool:
    """A config of the spec's model types; a detector must know people (a "person" label)."""
    if str(config.get("model_type", "")) not in spec.model_types:
        return False
    labels = config.get("id2label") or {}
    return spec.kind != "detector" or "person" in {str(v).lower() for v in labels.values()}


def _configs(base: Path) -> Iterator[Path]:
    """config.json files at most four folders below base (a hub snapshot sits three deep)."""
    for depth in range(5):
        yield from sorted(base.glob("/".join(["*"] * depth + ["config.json"])))


def find_annotator(kind: str, library: Library) -> str:
    """The folder (or hub id, when only the hub has it and network access is on) of a `kind` model.
    None found is one ModelError naming where to put it."""
    spec = SPECS[kind]
    strays: list[Path] = []
    for base in annotator_dirs(library):
        for config in _configs(base):
            if _fits(spec, _config(config)) and any(
                any(config.parent.glob(p)) for p in ("*.safetensors", "*.bin")
            ):
                return str(config.parent)
        if kind == "depth":  # Depth Anything's own checkpoints (A1111's downloads, ComfyUI's ckpts) are read
            originals = sorted(p for p in base.rglob("depth_anything_vit*14.*") if is_original(p))
            if originals:
                return str(max(originals, key=lambda p: p.stat().st_size))  # the largest wins
        for name in spec.a1111_folders:  # other A1111 checkpoints: named in the error
            strays += [
                p for p in sorted((base / name).glob("*")) if p.suffix in (".pth", ".pt", ".safetensors")
            ]
    for repo in spec.hub_ids:
        if folder := _hub_cached(repo):
            return folder
    if library.settings.allow_network and spec.hub_ids:
        return spec.hub_ids[0]
    place = library.settings.library_path() / "models" / "annotators" / spec.folder
    stray = (
        f" ({strays[0]} is an original checkpoint; sdstudio reads the transformers version)" if strays else ""
    )
    hub = f" (e.g. {spec.hub_ids[0]})" if spec.hub_ids else ""
    raise AnnotatorMissing(
        f"the {kind} preprocessor needs a {spec.what} model{stray}: put a transformers folder{hub} with its "
        f"config.json and weights in {place}, or in an A1111 install's "
        "extensions/sd-webui-controlnet/annotator/downloads; or allow network access in the settings "
        "(allow_network) to fetch it from the hub"
    )


def _hub_cached(repo: str) -> str:
    """The snapshot folder of a hub repo already in the Hugging Face cache, else ""."""
    from sdstudio.core.install.hub import cache_dir

    snapshots = cache_dir() / ("models--" + repo.replace("/", "--")) / "snapshots"
    if not snapshots.is_dir():
        return ""
    for snap in sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if (snap / "config.json").is_file() and any(snap.glob("*.safetensors")):
            return str(snap)
    return ""


@dataclass
class Loaded:
    """A preprocessor model in memory: the transformers model and its image processor."""

    model: torch.nn.Module
    processor: BaseImageProcessor  # the model's transformers image processor
    source: str
    lock: threading.Lock


_LOADED: dict[tuple[str, str, str], Loaded] = {}  # (kind, source, device) -> model; shared by engine and API
_LOADING = threading.Lock()


def _load(kind: str, source: str, device: str, allow_network: bool) -> Loaded:
    import transformers

    classes = {
        "depth": ("DepthAnythingForDepthEstimation", "DPTImageProcessorPil"),
        "pose": ("VitPoseForPoseEstimation", "VitPoseImageProcessorPil"),
        "detector": ("AutoModelForObjectDetection", "AutoImageProcessor"),
    }[kind]
    model_cls, processor_cls = (getattr(transformers, n) for n in classes)
    if kind == "depth" and Path(source).is_file():  # an original checkpoint (A1111's download)
        from sdstudio.core.control.depth_original import load_original

        model = load_original(Path(source))
        return Loaded(model.to(device).eval(), processor_cls(**DEPTH_PROCESSOR), source, threading.Lock())
    local = not allow_network or Path(source).is_dir()
    try:
        model = model_cls.from_pretrained(source, local_files_only=local)
        own = not local or (Path(source) / "preprocessor_config.json").is_file()
        if kind == "depth" and not own:  # a folder without one: Depth Anything's own settings
            processor = processor_cls(**DEPTH_PROCESSOR)
        elif kind == "pose" and not own:  # ViTPose's defaults (256x192, ImageNet normalisation)
            processor = processor_cls()
        else:
            processor = processor_cls.from_pretrained(source, local_files_only=local)
    except (OSError, ValueError, RuntimeError) as e:
        raise ModelError(
            f"{SPECS[kind].what} model {source}: cannot load it ({str(e).splitlines()[0][:200]})"
        ) from None
    return Loaded(model.to(device).eval(), processor, source, threading.Lock())


# Depth Anything's preprocessing as its hub folders declare it (for folders that lack preprocessor_config.json)
DEPTH_PROCESSOR: Kwargs = {
    "size": {"height": 518, "width": 518},
    "keep_aspect_ratio": True,
    "ensure_multiple_of": 14,
    "resample": 3,  # bicubic
    "do_pad": False,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
}


def _fingerprint(source: str) -> list[list[str | int]]:
    """(name, size, mtime) of a model file or of the files of its folder: a model replaced in place changes it."""
    path = Path(source) if source else None
    if path is None or not path.exists():
        return []
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    return [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]


class Annotators:
    """The preprocessor models of a library on one device (the engine's), and the disk cache of their maps."""

    def __init__(self, library: Library, device: str = "cpu", cache_dir: Path | None = None):
        self.library, self.device = library, device
        self.cache_dir = cache_dir or paths.data_dir() / "cache" / "control-maps"

    def source(self, kind: str) -> str:
        return find_annotator(kind, self.library)

    def optional(self, kind: str) -> Loaded | None:
        """A model that helps when present (the person detector); None when there is none."""
        try:
            return self.get(kind)
        except AnnotatorMissing:
            return None

    def get(self, kind: str) -> Loaded:
        """The `kind` model on this device, loaded once and kept."""
        source = self.source(kind)
        key = (kind, source, self.device)
        with _LOADING:
            if key not in _LOADED:
                log.info("loading the %s preprocessor model from %s", kind, source)
                allow = self.library.settings.allow_network
                _LOADED[key] = _load(kind, source, self.device, allow)
            return _LOADED[key]

    # -- the disk cache of maps ------------------------------------------------------------------------------
    def run_cached(
        self, kind: str, module: str, image: Image, compute: Callable[[], Image | np.ndarray]
    ) -> Image:
        """The map of `module` for a PIL picture: from the disk cache by content hash, else computed (an
        array or PIL picture) and stored."""
        from PIL import Image

        picture = hashlib.sha256(f"{image.mode} {image.size}".encode() + image.tobytes()).hexdigest()
        key = self.cache_key(picture, module, {}, kind)
        if (hit := self.cached(key)) is not None:
            return hit
        found = compute()
        out = (found if isinstance(found, Image.Image) else Image.fromarray(found)).convert("RGB")
        self.store(key, out)
        return out

    def cache_key(self, picture_sha: str, module: str, params: JsonObject, kind: str) -> str:
        """Content hash of a map: the picture's sha256, the module, its parameters and the models it came from
        (each by its place and its files' sizes and times; pose maps also by the person detector)."""
        kinds = [kind, "detector"] if kind == "pose" else [kind]
        models = []
        for k in kinds:
            try:
                source = self.source(k)
            except AnnotatorMissing:
                source = ""
            models.append([source, _fingerprint(source)])
        text = json.dumps([VERSION, picture_sha, module, params, models], sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def cached(self, key: str) -> Image | None:
        """The cached map (a PIL picture), or None."""
        from PIL import Image, UnidentifiedImageError

        path = self._path(key)
        try:
            with Image.open(path) as img:
                img.load()
                return img.convert("RGB")
        except FileNotFoundError:
            return None
        except (OSError, UnidentifiedImageError) as e:  # a damaged entry is recomputed
            log.warning("control map cache entry %s is unreadable (%s); recomputing", path, e)
            return None

    def store(self, key: str, image: Image) -> None:
        import io

        from sdstudio.core.metadata_io import atomic_write

        path = self._path(key)
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, buf.getvalue())
        except OSError as e:  # a full or read-only disk costs the cache, not the job
            log.warning("cannot cache the control map in %s (%s)", path, e)
            return
        self._prune()

    def _prune(self) -> None:
        """Keep at most MAX_CACHED_MAPS maps: the least recently written go first."""
        files = list(self.cache_dir.glob("*/*.png"))
        if len(files) <= MAX_CACHED_MAPS:
            return
        files.sort(key=lambda p: p.stat().st_mtime)
        for old in files[: len(files) - MAX_CACHED_MAPS]:
            old.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.png"


def loaded_models() -> list[tuple[str, str, str]]:
    """(kind, source, device) of every preprocessor model in memory."""
    with _LOADING:
        return list(_LOADED)


def unload_all() -> None:
    """Forget every preprocessor model kept in memory."""
    with _LOADING:
        _LOADED.clear()
