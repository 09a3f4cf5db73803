"""Model library: offline single-file loading, family detection, roots in place, hashes, clear errors."""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sdstudio.core import demo
from sdstudio.core.engine import Engine
from sdstudio.core.errors import ModelError
from sdstudio.core.models import Family, Kind, ModelLibrary, Source, load_pipeline
from sdstudio.core.models.detect import classify, read_header
from sdstudio.core.models.hashing import HashCache
from sdstudio.core.models.scan import file_entry, scan_root
from sdstudio.core.request import Request
from sdstudio.core.settings import Settings
from tests.core.ldm_layout import SD1_TEXT, SD2_TEXT, UNET_IN, XL_G, XL_L, as_single_file
from tests.core.ldm_layout import write_header as _write_header


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(
    ("tensors", "meta", "kind", "family"),
    [
        ({UNET_IN: [320, 4, 3, 3], SD1_TEXT: [8, 2]}, None, Kind.checkpoint, Family.sd1),
        ({UNET_IN: [320, 9, 3, 3], SD1_TEXT: [8, 2]}, None, Kind.checkpoint, Family.sd1_inpaint),
        (
            {UNET_IN: [320, 4, 3, 3], SD2_TEXT: [8, 2]},
            {"modelspec.prediction_type": "epsilon"},
            Kind.checkpoint,
            Family.sd2,
        ),
        (
            {UNET_IN: [320, 4, 3, 3], SD2_TEXT: [8, 2]},
            {"modelspec.prediction_type": "v"},
            Kind.checkpoint,
            Family.sd2_v,
        ),
        ({UNET_IN: [320, 4, 3, 3], SD2_TEXT: [8, 2], "v_pred": [1]}, None, Kind.checkpoint, Family.sd2_v),
        ({UNET_IN: [320, 9, 3, 3], SD2_TEXT: [8, 2]}, None, Kind.checkpoint, Family.sd2_inpaint),
        ({UNET_IN: [320, 4, 3, 3], XL_L: [8, 2], XL_G: [8, 2]}, None, Kind.checkpoint, Family.sdxl),
        ({UNET_IN: [320, 9, 3, 3], XL_L: [8, 2], XL_G: [8, 2]}, None, Kind.checkpoint, Family.sdxl_inpaint),
        (
            {"lora_unet_down_blocks_0.lora_down.weight": [4, 8], "lora_unet_down_blocks_0.alpha": [1]},
            None,
            Kind.lora,
            Family.unknown,
        ),
        (
            {
                "encoder.down.0.block.0.conv1.weight": [8, 3, 3, 3],
                "decoder.up.0.block.0.conv1.weight": [8, 8, 3, 3],
            },
            None,
            Kind.vae,
            Family.unknown,
        ),
        ({"emb_params": [2, 768]}, None, Kind.embedding, Family.unknown),
    ],
)
def test_family_detection_from_header(tmp_path: Path, tensors, meta, kind, family) -> None:
    path = _write_header(tmp_path / "m.safetensors", tensors, meta)
    assert classify(read_header(path)) == (kind, family)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file too short"),
        (b"garbage that is not a model at all", "not a safetensors model"),
        (struct.pack("<Q", 20) + b"{not json at all!!!}", "unreadable header"),
    ],
)
def test_garbage_files_give_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message) as err:
        read_header(path)
    assert str(path) in str(err.value)


def test_truncated_file_is_reported_and_library_keeps_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "a1111"
    ckpts = root / "models" / "Stable-diffusion"
    ckpts.mkdir(parents=True)
    good = _write_header(ckpts / "good.safetensors", {UNET_IN: [320, 4, 3, 3], SD1_TEXT: [8, 2]})
    data = good.read_bytes()
    (ckpts / "cut.safetensors").write_bytes(data[: len(data) - 10])
    (ckpts / "junk.safetensors").write_bytes(b"hello")
    lib = ModelLibrary(Settings(model_roots=[str(root)]))
    entries = {e.name: e for e in lib.entries()}
    assert entries["good"].family is Family.sd1 and not entries["good"].note
    assert "truncated" in entries["cut"].note and "cut.safetensors" in entries["cut"].note
    assert "not a safetensors model" in entries["junk"].note
    with pytest.raises(ModelError, match="truncated"):
        load_pipeline(entries["cut"])
    assert demo.DEMO_NAME in entries


def test_a1111_and_comfyui_trees_are_discovered_in_place(tmp_path: Path) -> None:
    sd1 = {UNET_IN: [320, 4, 3, 3], SD1_TEXT: [8, 2]}
    a = tmp_path / "stable-diffusion-webui"
    for sub in ("models/Stable-diffusion/sub", "models/Lora", "models/VAE", "embeddings"):
        (a / sub).mkdir(parents=True)
    _write_header(a / "models/Stable-diffusion/sub/dreamy.safetensors", sd1)
    _write_header(a / "models/Lora/hands.safetensors", {"lora_unet_x.lora_down.weight": [4, 8]})
    _write_header(
        a / "models/VAE/vae-ft-mse.safetensors", {"encoder.down.0.block.0.conv1.weight": [8, 3, 3, 3]}
    )
    _write_header(a / "embeddings/bad-hands.safetensors", {"emb_params": [2, 768]})
    c = tmp_path / "ComfyUI"
    for sub in ("models/checkpoints", "models/loras", "models/vae", "models/embeddings"):
        (c / sub).mkdir(parents=True)
    _write_header(
        c / "models/checkpoints/xl.safetensors", {UNET_IN: [320, 4, 3, 3], XL_L: [8, 2], XL_G: [8, 2]}
    )
    _write_header(c / "models/loras/style.safetensors", {"lora_te_x.lora_up.weight": [8, 4]})
    lib = ModelLibrary(Settings(model_roots=[str(a), str(c)]))
    by_kind = {k: sorted(e.name for e in lib.entries(k)) for k in Kind}
    assert by_kind[Kind.checkpoint] == sorted([demo.DEMO_NAME, demo.DEMO_INPAINT_NAME, "dreamy", "xl"])
    assert by_kind[Kind.lora] == ["hands", "style"] and by_kind[Kind.vae] == ["vae-ft-mse"]
    assert by_kind[Kind.embedding] == ["bad-hands"]
    dreamy = lib.resolve("dreamy")
    assert (
        dreamy.family is Family.sd1
        and Path(dreamy.location).parent == (a / "models/Stable-diffusion/sub").resolve()
    )
    assert lib.resolve("xl").family is Family.sdxl
    assert scan_root(tmp_path / "missing") == []


def test_hash_matches_sha256sum_and_is_computed_once(tmp_path: Path) -> None:
    path = _write_header(tmp_path / "m.safetensors", {UNET_IN: [320, 4, 3, 3], SD1_TEXT: [64, 64]})
    cache = HashCache(tmp_path / "hashes.json")
    lib = ModelLibrary(Settings(model_roots=[str(tmp_path)]), hashes=cache)
    entry = lib.with_hash(lib.resolve(str(path)))
    expected = subprocess.run(
        ["sha256sum", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert entry.sha256 == expected == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry.short_hash == expected[:10] and entry.title == f"m [{expected[:10]}]"
    for _ in range(3):
        lib.with_hash(lib.resolve(str(path)))
    again = HashCache(tmp_path / "hashes.json")  # a new process reads the cache file
    assert again.sha256(path) == expected and cache.computed == 1 and again.computed == 0
    lib.refresh()
    assert lib.resolve(f"m [{expected[:10]}]").location == str(path.resolve())
    assert lib.resolve(expected[:10]).location == str(path.resolve())


def test_pickle_checkpoints_are_never_fully_unpickled(tmp_path: Path) -> None:
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": Evil()}, f)
    with pytest.raises(ModelError, match="refused to open this pickle checkpoint safely"):
        load_pipeline(file_entry(path))


def test_unknown_references_give_one_clear_error(tmp_path: Path) -> None:
    lib = ModelLibrary(Settings())
    with pytest.raises(ModelError, match="model not found: nothing-here"):
        lib.resolve("nothing-here")
    assert lib.resolve("").source is Source.demo
    assert lib.resolve("runwayml/stable-diffusion-v1-5").source is Source.hub
    lora = _write_header(tmp_path / "lora.safetensors", {"lora_unet_x.lora_down.weight": [4, 8]})
    with pytest.raises(ModelError, match="looks like a lora"):
        lib.resolve(str(lora))


def test_hub_ids_honour_offline_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_network: None
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    entry = ModelLibrary(Settings()).resolve("someone/some-model")
    with pytest.raises(ModelError, match="not in the local cache"):
        load_pipeline(entry)


def _tiny_sdxl(folder: Path) -> Path:
    demo.tiny_sdxl_pipeline().save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_single_file_loads_offline_and_matches_folder_form(
    family: str, tmp_path: Path, demo_home: Path, no_network: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diffusers

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if family == "sd1":
        folder, cls = demo.demo_path(), diffusers.StableDiffusionPipeline
    else:
        folder, cls = _tiny_sdxl(tmp_path / "tiny-sdxl"), diffusers.StableDiffusionXLPipeline
    ckpt = as_single_file(folder, tmp_path / "models" / f"tiny-{family}.safetensors", cls)
    lib = ModelLibrary(Settings(model_roots=[str(tmp_path / "models")]))
    entry = lib.resolve(f"tiny-{family}")
    assert entry.family is (Family.sd1 if family == "sd1" else Family.sdxl) and entry.config_dir
    engine = Engine(lib, device="cpu")
    req = Request(prompt="a lighthouse", steps=3, width=64, height=64, seed=4, sampler="Euler")
    from_file = engine.run(req.replace(model=f"tiny-{family}")).images[0].image
    assert engine.model_name == f"tiny-{family}"
    assert engine.model_hash == hashlib.sha256(ckpt.read_bytes()).hexdigest()[:10]
    from_folder = engine.run(req.replace(model=str(folder))).images[0].image
    diff = np.abs(np.asarray(from_file, dtype=np.int16) - np.asarray(from_folder, dtype=np.int16))
    assert diff.max() <= 1


def test_bundled_configs_cover_each_family(sdstudio_home: Path) -> None:
    from sdstudio.core.models import config_folder

    for family, cls in (
        (Family.sd1, "StableDiffusionPipeline"),
        (Family.sd2_v, "StableDiffusionPipeline"),
        (Family.sdxl, "StableDiffusionXLPipeline"),
        (Family.sdxl_inpaint, "StableDiffusionXLInpaintPipeline"),
    ):
        folder = config_folder(family)
        index = json.loads((folder / "model_index.json").read_text())
        assert index["_class_name"] == cls
        assert (folder / "tokenizer" / "vocab.json").exists()
        unet = json.loads((folder / "unet" / "config.json").read_text())
        assert unet["in_channels"] == (9 if family.inpaint else 4)
    sched = json.loads((config_folder(Family.sd2_v) / "scheduler" / "scheduler_config.json").read_text())
    assert sched["prediction_type"] == "v_prediction"


def test_switching_models_releases_memory(tmp_path: Path, demo_home: Path) -> None:
    code = f"""
import os, gc, resource
os.environ["SDSTUDIO_HOME"] = {str(demo_home)!r}
from sdstudio.core.engine import Engine
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import Request
from sdstudio.core.settings import Settings
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
e = Engine(ModelLibrary(Settings.load()), device="cpu")
r = Request(prompt="x", steps=1, width=64, height=64, seed=1)
for m in ("demo", "demo-inpaint", "demo", "demo-inpaint"):
    e.run(r.replace(model=m))
base = rss()
for i in range(10):
    e.run(r.replace(model=("demo", "demo-inpaint")[i % 2]))
gc.collect()
print(base, rss())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    base, after = map(int, out.stdout.split()[-2:])
    assert after - base < 60 * 2**20, f"RSS grew by {(after - base) / 2**20:.1f} MiB over ten switches"
