"""Replay: `generate --from`, `--verify` and `lineage --replay`, as real subprocesses on the tiny models."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from sdstudio.core.request import InpaintArea, InputImage, Mode, Request
from tests.cli.test_generate import _run

SMALL = {"width": 64, "height": 64, "sampler": "Euler a"}


def _chain(engine: Any, store: Any) -> list[Path]:
    """txt2img -> img2img -> only-masked inpaint, saved to the gallery as the window does."""
    first = engine.run(Request(prompt="a red fox", steps=3, seed=5, **SMALL))
    p1 = store.add(first)[0]
    second = engine.run(
        Request(
            prompt="a red fox in snow",
            mode=Mode.img2img,
            init_image=InputImage.from_pil(first.images[0].image),
            strength=0.6,
            steps=4,
            seed=6,
            **SMALL,
        )
    )
    p2 = store.add(second)[0]
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((20, 20, 40, 40), fill=255)
    third = engine.run(
        Request(
            prompt="a fox face",
            mode=Mode.inpaint,
            init_image=InputImage.from_pil(second.images[0].image),
            mask=InputImage.from_pil(mask),
            inpaint_area=InpaintArea.only_masked,
            inpaint_padding=8,
            strength=0.8,
            steps=4,
            seed=7,
            **SMALL,
        )
    )
    p3 = store.add(third)[0]
    return [Path(p1.path), Path(p2.path), Path(p3.path)]


def test_a_three_step_chain_replays_bit_identically(
    cpu_engine: Any, sdstudio_home: Path, demo_home: Path, tmp_path: Path
) -> None:
    from sdstudio.core.gallery.store import GalleryStore
    from sdstudio.core.settings import Settings

    store = GalleryStore(Settings.load().outputs_path())
    paths = _chain(cpu_engine, store)
    store.close()

    shown = _run("lineage", str(paths[2]), "--replay", home=sdstudio_home)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert out.index(paths[0].name) < out.index(paths[1].name) < out.index(paths[2].name)
    assert "txt2img, seed 5" in out and "img2img, seed 6" in out and "inpaint (only masked), seed 7" in out
    assert [line for line in out.splitlines() if line.startswith("step ")] == [
        "step 1: identical",
        "step 2: identical",
        "step 3: identical",
    ]

    # the last picture alone: its init picture and mask come back from the input store by content hash
    res = _run(
        "generate", "--from", str(paths[2]), "--verify", "-o", str(tmp_path / "r.png"), home=sdstudio_home
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("identical")

    # an override changes that one parameter; verify then reports the difference and exits 1
    res = _run(
        "generate", "--from", str(paths[1]), "--seed", "99", "--verify", "-o", str(tmp_path / "s.png"),
        home=sdstudio_home,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "max difference" in res.stdout and "same recorded setup" in res.stdout
    with Image.open(tmp_path / "s.png") as im:
        params = im.info["parameters"]
    assert (
        params.startswith("a red fox in snow\n")
        and "Seed: 99," in params
        and "Denoising strength: 0.6" in params
    )


def _a1111_png(path: Path, text: str) -> Path:
    info = PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", (64, 64), "gray").save(path, pnginfo=info)
    return path


def _add_webui(tmp_path: Path, home: Path) -> Path:
    import diffusers

    from sdstudio.core import demo
    from tests.core.ldm_layout import as_single_file

    webui = tmp_path / "webui"
    ckpt = webui / "models" / "Stable-diffusion" / "tinyfox.safetensors"
    as_single_file(demo.demo_path(), ckpt, diffusers.StableDiffusionPipeline)
    res = _run("models", "--add-root", str(webui), home=home)
    assert res.returncode == 0, res.stderr
    return ckpt


def test_an_a1111_infotext_replays_as_the_same_parameters_on_the_command_line(
    sdstudio_home: Path, demo_home: Path, tmp_path: Path
) -> None:
    ckpt = _add_webui(tmp_path, sdstudio_home)
    short = hashlib.sha256(ckpt.read_bytes()).hexdigest()[:10]
    direct = tmp_path / "direct.png"
    res = _run(
        "generate", "a red fox", "--negative", "blurry", "--steps", "3", "--cfg", "6.5", "--seed", "77",
        "--sampler", "Euler a", "--width", "64", "--height", "64", "--model", "tinyfox", "-o", str(direct),
        home=sdstudio_home,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    # written by hand as A1111 writes it; the file has since been renamed (found by hash)
    text = (
        "a red fox\nNegative prompt: blurry\nSteps: 3, Sampler: Euler a, Schedule type: Automatic, "
        f"CFG scale: 6.5, Seed: 77, Size: 64x64, Model hash: {short}, Model: fox_v1, "
        "ADetailer model: face_yolov8n.pt, Version: v1.10.1"
    )
    picture = _a1111_png(tmp_path / "a1111.png", text)
    replayed = tmp_path / "replayed.png"
    res = _run("generate", "--from", str(picture), "-o", str(replayed), home=sdstudio_home)
    assert res.returncode == 0, res.stderr
    assert "not reproduced (this studio cannot honour them): ADetailer model" in res.stderr
    with Image.open(direct) as a, Image.open(replayed) as b:
        assert a.tobytes() == b.tobytes()


def test_a_missing_model_is_one_line_naming_its_hash_and_name(sdstudio_home: Path, tmp_path: Path) -> None:
    text = "a cat\nSteps: 3, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, Model hash: 0123456789, Model: gone_v2"
    picture = _a1111_png(tmp_path / "cat.png", text)
    res = _run("generate", "--from", str(picture), "-o", str(tmp_path / "x.png"), home=sdstudio_home)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "0123456789" in lines[0] and "gone_v2" in lines[0], res.stderr
    assert not (tmp_path / "x.png").exists()
