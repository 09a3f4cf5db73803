"""The `sdstudio generate` contract, run as a real subprocess on the demo model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"SDSTUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sdstudio", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def test_generate_batch_writes_numbered_pngs_with_parameters(
    tmp_path: Path, sdstudio_home: Path, demo_home: Path
) -> None:
    out = tmp_path / "out" / "cat.png"
    res = _run(
        "generate",
        "a cat",
        "--negative",
        "blurry",
        "--steps",
        "3",
        "--seed",
        "11",
        "--width",
        "64",
        "--height",
        "64",
        "--batch",
        "2",
        "--sampler",
        "Euler a",
        "-o",
        str(out),
        home=sdstudio_home,
    )
    assert res.returncode == 0, res.stderr
    files = sorted(p.name for p in out.parent.iterdir())
    assert files == ["cat-1.png", "cat.png"]
    with Image.open(out) as im:
        assert im.size == (64, 64)
        params = im.info["parameters"]
    assert (
        params.startswith("a cat\nNegative prompt: blurry\n")
        and "Seed: 11" in params
        and "Steps: 3" in params
    )
    with Image.open(out.with_name("cat-1.png")) as im:
        assert "Seed: 12" in im.info["parameters"]
    assert "3/3" in res.stderr  # the progress bar


def test_generate_img2img_and_inpaint_modes_follow_from_flags(
    tmp_path: Path, sdstudio_home: Path, demo_home: Path
) -> None:
    init, mask = tmp_path / "init.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(init)
    m = Image.new("L", (64, 64), 0)
    m.paste(255, (16, 16, 48, 48))
    m.save(mask)
    out = tmp_path / "fix.png"
    res = _run(
        "generate",
        "fix",
        "--init",
        str(init),
        "--mask",
        str(mask),
        "--steps",
        "2",
        "--width",
        "64",
        "--height",
        "64",
        "--strength",
        "0.8",
        "-o",
        str(out),
        home=sdstudio_home,
    )
    assert res.returncode == 0, res.stderr
    with Image.open(out) as im:
        assert im.getpixel((2, 2)) == (200, 10, 10)  # outside the mask: the original


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--width", "65"], "width: 65 is not a multiple of 8"),
        (["--sampler", "Nope"], "unknown sampler 'Nope'"),
        (["--steps", "x"], "invalid int value"),
        (["--mask", "m.png"], "--mask needs --init"),
        (["--init", "/nonexistent.png"], "cannot read"),
        (
            ["--model", "/no/such/model.safetensors", "--width", "64", "--height", "64", "--steps", "1"],
            "model not found",
        ),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line(
    tmp_path: Path, sdstudio_home: Path, args: list[str], message: str
) -> None:
    res = _run("generate", "x", *args, "-o", str(tmp_path / "o.png"), home=sdstudio_home)
    assert res.returncode != 0
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "o.png").exists()


def test_without_a_size_the_output_follows_the_init_picture(
    tmp_path: Path, sdstudio_home: Path, demo_home: Path
) -> None:
    init = tmp_path / "wide.png"
    Image.new("RGB", (96, 64), (20, 120, 40)).save(init)
    res = _run(
        "generate",
        "grass",
        "--init",
        str(init),
        "--steps",
        "2",
        "-o",
        str(tmp_path / "a.png"),
        home=sdstudio_home,
    )
    assert res.returncode == 0, res.stderr
    with Image.open(tmp_path / "a.png") as im:
        assert im.size == (96, 64)  # not squashed into 512x512
    res = _run(
        "generate",
        "grass",
        "--init",
        str(init),
        "--width",
        "128",
        "--steps",
        "2",
        "-o",
        str(tmp_path / "b.png"),
        home=sdstudio_home,
    )
    assert res.returncode == 0, res.stderr
    with Image.open(tmp_path / "b.png") as im:
        assert im.size == (128, 88)  # the other side follows the aspect


def test_an_unwritable_output_is_one_line_and_leaves_no_partial_file(
    tmp_path: Path, sdstudio_home: Path, demo_home: Path
) -> None:
    out = tmp_path / "out"
    (out / "taken.png").mkdir(parents=True)  # the output name is a folder: the final rename fails
    res = _run(
        "generate",
        "x",
        "--steps",
        "1",
        "--width",
        "64",
        "--height",
        "64",
        "-o",
        str(out / "taken.png"),
        home=sdstudio_home,
    )
    assert res.returncode == 2
    assert (
        res.stderr.strip().splitlines()[-1].startswith("sdstudio: error: cannot write")
        and "Traceback" not in res.stderr
    )
    assert sorted(p.name for p in out.iterdir()) == ["taken.png"]  # no temporary file left behind


def test_a_few_step_model_gets_its_steps_cfg_and_sampler_unless_flags_say_otherwise(
    tmp_path: Path, sdstudio_home: Path, demo_home: Path
) -> None:
    """A model named like SD-Turbo runs 1 step, CFG 1, Euler a SGM Uniform (announced); a flag still wins."""
    turbo = tmp_path / "sd-turbo-demo"
    demo = next((demo_home / "data" / "models").glob("demo*/tiny-sd1"))
    turbo.symlink_to(demo, target_is_directory=True)
    out = tmp_path / "turbo.png"
    res = _run("generate", "a cat", "--model", str(turbo), "--width", "64", "--height", "64", "--seed", "3", "-o", str(out),
               home=sdstudio_home)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "a few-step model, 1 step, CFG 1, Euler a SGM Uniform" in res.stderr
    text = Image.open(out).info["parameters"]
    assert "Steps: 1, Sampler: Euler a, Schedule type: SGM Uniform, CFG scale: 1," in text
    res = _run("generate", "a cat", "--model", str(turbo), "--width", "64", "--height", "64", "--steps", "2", "-o", str(out),
               home=sdstudio_home)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (
        "Steps: 2, Sampler: Euler a, Schedule type: SGM Uniform, CFG scale: 1,"
        in Image.open(out).info["parameters"]
    )
    res = _run(
        "generate",
        "a cat",
        "--width",
        "64",
        "--height",
        "64",
        "-o",
        str(out),
        "--steps",
        "1",
        home=sdstudio_home,
    )
    assert res.returncode == 0, res.stderr
    assert "few-step" not in res.stderr
    assert "CFG scale: 7," in Image.open(out).info["parameters"]
