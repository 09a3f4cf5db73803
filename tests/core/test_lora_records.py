"""LoRAs, embeddings and the VAE recorded as A1111 writes them, and Reuse relinking renamed LoRAs by hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from safetensors.torch import save_file

from sdstudio.core.gallery import GalleryStore, infotext, parse_infotext, read_parameters
from sdstudio.core.lora import AppliedLora, LoraCatalog, autov3, lora_roots
from sdstudio.core.request import GeneratedImage, Request, Result


def _lora_file(folder: Path, name: str, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    path = folder / f"{name}.safetensors"
    save_file(
        {
            "lora_unet_x.lora_up.weight": torch.randn(4, 2, generator=g),
            "lora_unet_x.lora_down.weight": torch.randn(2, 4, generator=g),
        },
        str(path),
    )
    return path


def _result(prompt: str, loras: tuple[AppliedLora, ...] = (), **kw) -> Result:
    req = Request(prompt=prompt, seed=7, steps=20, width=64, height=64)
    img = Image.new("RGB", (64, 64), (10, 40, 90))
    return Result(req, (GeneratedImage(img, 7, req, 0),), "dreamshaper_8", "879db523c3", 1.0, loras, **kw)


@pytest.fixture
def store(tmp_path: Path) -> GalleryStore:
    s = GalleryStore(tmp_path / "outputs", tmp_path / "index.sqlite3")
    yield s
    s.close()


def test_infotext_carries_lora_ti_and_vae_hashes_as_a1111() -> None:
    loras = (
        AppliedLora("ink:style", "/l/ink.safetensors", 0.8, 0.8, "a" * 64, "0123456789abcdef" * 4),
        AppliedLora("glow", "/l/glow.safetensors", 1, 1, "b" * 64, "fedcba9876543210" * 4),
    )
    result = _result(
        "a fox <lora:ink:style:0.8> <lora:glow:1>, EasyNegative",
        loras,
        embeddings=(("EasyNegative", "c74b4e810b03" + "0" * 52),),
        vae_name="vae-ft-mse-840000-ema-pruned.safetensors",
        vae_hash="735e4c3a44" + "1" * 54,
    )
    text = infotext(result.images[0], result)
    line = text.splitlines()[-1]
    assert 'Lora hashes: "inkstyle: 0123456789ab, glow: fedcba987654"' in line
    assert 'TI hashes: "EasyNegative: c74b4e810b03"' in line
    assert "Model: dreamshaper_8, VAE hash: 735e4c3a44, VAE: vae-ft-mse-840000-ema-pruned.safetensors" in line
    assert line.index("Lora hashes") < line.index("TI hashes") < line.index("Version")
    p = parse_infotext(text)
    assert p["Lora hashes"] == "inkstyle: 0123456789ab, glow: fedcba987654" and p["VAE hash"] == "735e4c3a44"


def test_reuse_relinks_a_renamed_lora_by_its_sha256(tmp_path: Path, store: GalleryStore) -> None:
    folder = tmp_path / "models" / "Lora"
    path = _lora_file(folder, "ink", 1)
    _lora_file(folder, "other", 2)
    catalog = LoraCatalog(lambda: lora_roots([folder]))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    used = AppliedLora("ink", str(path), 0.8, 0.8, sha, autov3(path))
    (record,) = store.add(_result("a fox <lora:ink:0.8>", (used,)))
    assert read_parameters(Path(record.path)).extra["loras"][0]["sha256"] == sha  # the JSON chunk has it
    path.rename(folder / "ink-v2.safetensors")
    catalog.refresh()
    assert store.request_of(record).prompt == "a fox <lora:ink:0.8>"  # without a catalog: as recorded
    assert store.request_of(record, loras=catalog).prompt == "a fox <lora:ink-v2:0.8>"


def test_an_a1111_picture_relinks_by_its_autov3_hash(tmp_path: Path, store: GalleryStore) -> None:
    folder = tmp_path / "loras"
    path = _lora_file(folder, "renamed-here", 3)
    catalog = LoraCatalog(lambda: lora_roots([folder]))
    other = tmp_path / "a1111"
    other.mkdir()
    info = PngInfo()
    info.add_text(
        "parameters",
        "a cat <lora:catStyle:0.6>\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, "
        f'Lora hashes: "catStyle: {autov3(path)[:12]}", Version: v1.10.1',
    )
    Image.new("RGB", (64, 64)).save(other / "00001.png", pnginfo=info)
    assert store.index_folder(other) == 1
    (record,) = store.search("cat")
    assert store.request_of(record, loras=catalog).prompt == "a cat <lora:renamed-here:0.6>"
