"""Single-file ControlNets as A1111 and ComfyUI keep them (`control_v11p_sd15_canny.safetensors` / `.pth`, original
key names): found in every ControlNet folder, loaded offline with a config, the same picture as the diffusers
folder; family read from the header and checked against the model; a corrupt file is one error naming it."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from sdstudio.core import demo
from sdstudio.core.control import ControlUnit
from sdstudio.core.control.loading import listed_name, load_controlnet
from sdstudio.core.engine import Engine
from sdstudio.core.errors import ModelError
from sdstudio.core.models import Family, Kind, ModelLibrary
from sdstudio.core.models.detect import controlnet_family
from sdstudio.core.request import InputImage, Request
from sdstudio.core.settings import Settings
from tests.core.ldm_layout import controlnet_to_ldm
from tests.core.test_control_engine import _reference, _tiny_controlnet


def ldm_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The ControlNet's weights as the original ControlNet files hold them (`control_model.input_blocks...`)."""
    per_level = net.config.layers_per_block
    return controlnet_to_ldm({k: v.clone() for k, v in net.state_dict().items()}, per_level)


@pytest.fixture
def installs(tmp_path: Path, demo_home: Path) -> tuple[Path, Path, torch.nn.Module]:
    """An A1111 install (the net as a diffusers folder and as a single file in the extension's folder) and a
    ComfyUI install (the same net as a .pth); the tiny net's config beside each single file."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    net = _tiny_controlnet(unet, 1)
    webui, comfy = tmp_path / "webui", tmp_path / "ComfyUI"
    (webui / "models" / "Stable-diffusion").mkdir(parents=True)
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    net.save_pretrained(str(webui / "models" / "ControlNet" / "tiny_folder_canny"))
    ext = webui / "extensions" / "sd-webui-controlnet" / "models"
    ext.mkdir(parents=True)
    save_file(ldm_state(net), str(ext / "control_tiny_canny.safetensors"))
    net.save_config(str(ext / "control_tiny_canny.config"))
    cn = comfy / "models" / "controlnet"
    cn.mkdir(parents=True)
    torch.save(ldm_state(net), str(cn / "control_tiny_pth.pth"))
    net.save_config(str(cn / "control_tiny_pth.config"))
    return webui, comfy, net


def test_single_files_load_offline_and_give_the_folder_picture(
    installs: tuple[Path, Path, torch.nn.Module],
) -> None:
    webui, comfy, net = installs
    library = ModelLibrary(Settings(model_roots=[str(webui), str(comfy)]))
    entries = {e.name: e for e in library.entries(Kind.controlnet)}
    assert set(entries) == {"tiny_folder_canny", "control_tiny_canny", "control_tiny_pth"}
    assert re.fullmatch(r"control_tiny_canny \[[0-9a-f]{8}\]", listed_name(entries["control_tiny_canny"]))

    # 1. both single files load (offline: HF_HUB_OFFLINE is set for the tests) to the folder's weights
    like = SimpleNamespace(dtype=torch.float32, device="cpu")  # the UNet the net joins
    for name in ("control_tiny_canny", "control_tiny_pth"):
        loaded = load_controlnet(entries[name], like).state_dict()
        assert loaded.keys() == net.state_dict().keys()
        assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items()), name

    # 2. the same picture through the engine, the model named as A1111 lists it
    engine = Engine(library, device="cpu")
    picture = InputImage.from_pil(_reference())
    base = Request(prompt="a box", steps=2, width=64, height=64, seed=4, sampler="Euler")

    def run(model: str) -> np.ndarray:
        unit = ControlUnit(picture, "canny", model, processor_res=64)
        return np.asarray(engine.run(base.replace(controls=(unit,))).images[0].image)

    single = run(listed_name(entries["control_tiny_canny"]))
    assert np.array_equal(single, run("tiny_folder_canny"))
    assert not np.array_equal(single, np.asarray(engine.run(base).images[0].image))


def _header_file(path: Path, shapes: dict[str, list[int]]) -> None:
    """A real safetensors file of zero tensors with these shapes."""
    from safetensors.torch import save_file

    save_file({k: torch.zeros(v, dtype=torch.float16) for k, v in shapes.items()}, str(path))


@pytest.mark.parametrize(
    ("shapes", "family"),
    [
        ({"control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768]}, Family.sd1),
        ({"control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 1024]}, Family.sd2),
        (
            {
                "control_model.label_emb.0.0.weight": [1280, 2816],
                "control_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048],
            },
            Family.sdxl,
        ),
        ({"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": [320, 768]}, Family.sd1),
        ({"add_embedding.linear_1.weight": [1280, 2816]}, Family.sdxl),
        ({"controlnet_cond_embedding.conv_in.weight": [16, 3, 3, 3]}, Family.unknown),
    ],
)
def test_the_family_is_read_from_the_header(shapes: dict[str, list[int]], family: Family) -> None:
    assert controlnet_family({k: {"shape": v} for k, v in shapes.items()}) is family


def test_a_wrong_family_or_a_corrupt_file_is_one_clear_error(
    tmp_path: Path, demo_home: Path, sdstudio_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sdstudio.cli import main

    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    folder = root / "models" / "ControlNet"
    folder.mkdir(parents=True)
    _header_file(
        folder / "control_xl_canny.safetensors",
        {
            "control_model.label_emb.0.0.weight": [8, 16],
            "control_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [8, 2048],
        },
    )
    good = folder / "control_broken.safetensors"
    _header_file(good, {"control_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [64, 768]})
    good.write_bytes(good.read_bytes()[:-100])  # truncated download
    (folder / "control_garbage.pth").write_bytes(b"PK\x03\x04 not really a zip" + struct.pack("<Q", 7))
    library = ModelLibrary(Settings(model_roots=[str(root)]))
    by_name = {e.name: e for e in library.entries(Kind.controlnet)}
    assert by_name["control_xl_canny"].family is Family.sdxl
    (sdstudio_home / "config").mkdir(parents=True, exist_ok=True)
    (sdstudio_home / "config" / "settings.json").write_text(json.dumps({"model_roots": [str(root)]}))
    assert main(["models", "--all"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert any("[controlnet] control_xl_canny" in line and "SDXL" in line for line in listed)
    assert any("[controlnet] control_broken" in line for line in listed)  # listed, its problem noted below it

    engine = Engine(library, device="cpu")
    base = Request(prompt="a box", steps=1, width=64, height=64, seed=4)
    picture = InputImage.from_pil(Image.new("RGB", (64, 64)))
    with pytest.raises(ModelError, match="control_xl_canny is for SDXL but the model .* is SD 1.x; choose"):
        engine.run(base.replace(controls=(ControlUnit(picture, "canny", "control_xl_canny"),)))
    with pytest.raises(ModelError, match=r"control_broken\.safetensors: truncated"):
        engine.run(base.replace(controls=(ControlUnit(picture, "canny", "control_broken"),)))
    with pytest.raises(ModelError, match=r"control_garbage\.pth: cannot open it safely"):
        engine.run(base.replace(controls=(ControlUnit(picture, "canny", "control_garbage"),)))


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_the_bundled_controlnet_configs_fit_the_bundled_unets(family: str) -> None:
    """Each bundled ControlNet config is the one diffusers derives from the family's UNet (built on meta)."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    from sdstudio.core.paths import resources_dir

    configs = resources_dir() / "model-configs"
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(
            UNet2DConditionModel.load_config(str(configs / family / "unet"))
        )
        derived = ControlNetModel.from_unet(unet, load_weights_from_unet=False)
        bundled = ControlNetModel.from_config(
            ControlNetModel.load_config(str(configs / "controlnet" / family))
        )
    shapes = {k: v.shape for k, v in bundled.state_dict().items()}
    assert shapes == {k: v.shape for k, v in derived.state_dict().items()}
    ldm = {k: {"shape": list(v)} for k, v in shapes.items()}
    assert controlnet_family(ldm) is {"sd1": Family.sd1, "sd2": Family.sd2, "sdxl": Family.sdxl}[family]


def test_an_sdxl_single_file_in_the_original_layout_loads_with_its_added_embedding(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from sdstudio.core.models.entries import ModelEntry, Source

    net = _tiny_controlnet(demo.tiny_sdxl_pipeline().unet, 2)
    state = ldm_state(net)
    assert "control_model.label_emb.0.0.weight" in state
    path = tmp_path / "control_tiny_xl.safetensors"
    save_file(state, str(path))
    net.save_config(str(tmp_path / "control_tiny_xl.config"))
    entry = ModelEntry("control_tiny_xl", Kind.controlnet, Family.sdxl, Source.file, str(path))
    loaded = load_controlnet(entry, SimpleNamespace(dtype=torch.float32, device="cpu")).state_dict()
    assert loaded.keys() == net.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in net.state_dict().items())
