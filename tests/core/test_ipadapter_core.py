"""IP-Adapter references without denoising: library folders and families, `sdstudio models --all`, the kinds'
attention layers against diffusers' InstantStyle scale dicts, tags and serialisation, and one clear error for a
wrong family, a missing image encoder and a face module."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from sdstudio.core import demo, schema
from sdstudio.core.control import ControlUnit, parse_image_tags, unit_from_ref
from sdstudio.core.control.ip_extension import cross_attention_names
from sdstudio.core.control.ip_files import _inferred_config, adapter_spec
from sdstudio.core.control.ipadapter import IpKind, layer_weight
from sdstudio.core.engine import Engine
from sdstudio.core.errors import ModelError
from sdstudio.core.models import ModelLibrary
from sdstudio.core.models.entries import Family, Kind
from sdstudio.core.request import InputImage, Request, RequestError
from sdstudio.core.settings import Settings
from tests.core.ipadapter_fixtures import save_adapter, tiny_adapter, tiny_encoder, tiny_plus_adapter


def _unet(xl: bool) -> torch.nn.Module:
    """A tiny UNet with SD 1.x's block layout (cross-attention in down 0-2, up 1-3, mid) or SDXL's."""
    from diffusers import UNet2DConditionModel

    common = {"block_out_channels": (8, 8, 8, 8)[: 3 if xl else 4], "norm_num_groups": 8, "sample_size": 8}
    if xl:
        return UNet2DConditionModel(
            **common, cross_attention_dim=16, layers_per_block=2, attention_head_dim=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            addition_embed_type="text_time", addition_time_embed_dim=4, projection_class_embeddings_input_dim=40,
        )  # fmt: skip
    return UNet2DConditionModel(
        **common, cross_attention_dim=16, layers_per_block=1, attention_head_dim=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    )  # fmt: skip


# the InstantStyle dicts of diffusers' set_ip_adapter_scale docs, and InvokeAI's SD 1.x blocks
DIFFUSERS_SCALES = {
    (True, IpKind.style): {"up": {"block_0": [0.0, 0.7, 0.0]}},
    (True, IpKind.composition): {"down": {"block_2": [0.0, 0.7]}},
    (False, IpKind.style): {"up": {"block_1": 0.7}},
    (False, IpKind.composition): {"down": {"block_2": 0.7}, "mid": 0.7},
    (False, IpKind.reference): 0.7,
}


@pytest.mark.parametrize(("xl", "kind"), list(DIFFUSERS_SCALES))
def test_style_and_composition_weight_the_layers_diffusers_and_invokeai_name(xl: bool, kind: IpKind) -> None:
    from diffusers.loaders import IPAdapterMixin

    unet = _unet(xl)
    unet._load_ip_adapter_weights([tiny_adapter(unet)], low_cpu_mem_usage=False)
    IPAdapterMixin.set_ip_adapter_scale(SimpleNamespace(unet=unet), DIFFUSERS_SCALES[(xl, kind)])
    procs = unet.attn_processors
    names = cross_attention_names(unet)
    ours = {n: layer_weight(n, kind, xl, 0.7) for n in names}
    assert ours == {n: procs[n].scale[0] for n in names}
    assert 0 < sum(1 for v in ours.values() if v) <= len(names)


@pytest.fixture
def roots(tmp_path: Path, demo_home: Path) -> tuple[Path, Path]:
    """An A1111 root (a .bin adapter in models/ControlNet, the encoder as the extension's clip_h) and a ComfyUI
    root (models/ipadapter, models/clip_vision)."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    webui, comfy = tmp_path / "webui", tmp_path / "ComfyUI"
    (webui / "models" / "Stable-diffusion").mkdir(parents=True)
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    save_adapter(tiny_adapter(unet), webui / "models" / "ControlNet" / "ip-adapter_tiny.bin")
    tiny_encoder(webui / "extensions/sd-webui-controlnet/annotator/downloads/clip_vision/clip_h")
    save_adapter(tiny_plus_adapter(unet), comfy / "models" / "ipadapter" / "ip-adapter-plus_tiny.safetensors")
    tiny_encoder(comfy / "models" / "ipadapter" / "models" / "image_encoder")  # h94's repository layout
    xl = {
        "image_proj": {"proj.weight": torch.zeros(8192, 1280)},
        "ip_adapter": {"1.to_k_ip.weight": torch.zeros(8, 2048)},
    }
    save_adapter(xl, comfy / "models" / "ipadapter" / "ip-adapter_sdxl.safetensors")
    return webui, comfy


def test_adapters_and_encoders_are_found_listed_and_know_their_needs(
    roots: tuple[Path, Path], sdstudio_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sdstudio.cli import main

    webui, comfy = roots
    library = ModelLibrary(Settings(model_roots=[str(webui), str(comfy)]))
    adapters = {e.name: e for e in library.entries(Kind.ip_adapter)}
    assert set(adapters) == {"ip-adapter_tiny", "ip-adapter-plus_tiny", "ip-adapter_sdxl"}
    assert adapters["ip-adapter_sdxl"].family is Family.sdxl  # from the safetensors header alone
    assert {e.name for e in library.entries(Kind.clip_vision)} == {"clip_h", "image_encoder"}
    assert not library.entries(Kind.controlnet)  # A1111 keeps both in models/ControlNet: told apart by keys
    plain = adapter_spec(Path(adapters["ip-adapter_tiny"].location))
    plus = adapter_spec(Path(adapters["ip-adapter-plus_tiny"].location))
    assert (plain.variant, plain.needs, plain.width, plain.cross_dim) == ("plain", "embeds", 16, 32)
    assert (plus.variant, plus.needs, plus.width, plus.layers) == ("plus", "hidden", 32, 4)

    (sdstudio_home / "config").mkdir(parents=True, exist_ok=True)
    (sdstudio_home / "config" / "settings.json").write_text(
        json.dumps({"model_roots": [str(webui), str(comfy)]})
    )
    assert main(["models", "--all"]) == 0
    out = capsys.readouterr().out
    assert "[ip-adapter] ip-adapter_tiny" in out and "[clip-vision] clip_h" in out
    assert any("[ip-adapter] ip-adapter_sdxl" in line and "SDXL" in line for line in out.splitlines())


def test_a_single_file_encoder_gets_its_config_from_its_shapes() -> None:
    meta = {"device": "meta"}
    state = {
        "vision_model.embeddings.class_embedding": torch.empty(1280, **meta),
        "vision_model.embeddings.patch_embedding.weight": torch.empty(1280, 3, 14, 14, **meta),
        "vision_model.embeddings.position_embedding.weight": torch.empty(257, 1280, **meta),
        "vision_model.encoder.layers.0.mlp.fc1.weight": torch.empty(5120, 1280, **meta),
        "vision_model.encoder.layers.31.mlp.fc1.weight": torch.empty(5120, 1280, **meta),
        "visual_projection.weight": torch.empty(1024, 1280, **meta),
    }
    config = _inferred_config(state, Path("clip_h.pth"))  # A1111's ViT-H/14
    assert (config.num_hidden_layers, config.num_attention_heads, config.image_size) == (32, 16, 224)
    assert (config.projection_dim, config.hidden_act) == (1024, "gelu")
    state["vision_model.embeddings.class_embedding"] = torch.empty(40, **meta)
    with pytest.raises(ModelError, match="no known config; put it in a folder with its config.json"):
        _inferred_config(state, Path("odd.safetensors"))


def test_wrong_family_missing_encoder_and_face_modules_are_one_clear_error(
    roots: tuple[Path, Path], tmp_path: Path
) -> None:
    webui, comfy = roots
    library = ModelLibrary(Settings(model_roots=[str(webui), str(comfy)]))
    engine = Engine(library, device="cpu")
    picture = InputImage.from_pil(Image.new("RGB", (32, 32), "red"))
    base = Request(prompt="a ball", steps=1, width=64, height=64, seed=1)

    def run(unit: ControlUnit) -> None:
        engine.run(base.replace(controls=(unit,)))

    # 1. an adapter of another family, both known from their headers: refused before the model loads
    with pytest.raises(
        ModelError, match="ip-adapter_sdxl is for SDXL but the model Demo .* is SD 1.x; choose"
    ):
        run(ControlUnit(picture, "ip-adapter_clip_sdxl", "ip-adapter_sdxl"))
    assert engine._loaded is None
    # 2. a ViT-bigG adapter (a .bin: its family shows when it loads) and no 1280-wide encoder in the library
    vitg = {
        "image_proj": {"proj.weight": torch.zeros(128, 1280)},
        "ip_adapter": {"1.to_k_ip.weight": torch.zeros(8, 32)},
    }
    save_adapter(vitg, comfy / "models" / "ipadapter" / "ip-adapter_vitg.bin")
    library.refresh()
    with pytest.raises(
        ModelError, match=r"ip-adapter_vitg needs a CLIP image encoder with 1280-wide image emb"
    ):
        run(ControlUnit(picture, "ip-adapter_clip_g", "ip-adapter_vitg"))
    assert engine._loaded is None
    # 3. known only from the UNet it meets: refused before any step, the UNet untouched
    big = {
        "image_proj": {"proj.weight": torch.zeros(8, 16)},
        "ip_adapter": {"1.to_k_ip.weight": torch.zeros(8, 768)},
    }
    save_adapter(big, comfy / "models" / "ipadapter" / "ip-adapter_sd15.safetensors")
    library.refresh()
    with pytest.raises(
        ModelError, match="ip-adapter_sd15 is for SD 1.x but the model Demo .* is cross-attention 32"
    ):
        run(ControlUnit(picture, "ip-adapter_clip_sd15", "ip-adapter_sd15"))
    with pytest.raises(RequestError, match="ip-adapter_face_id needs insightface") as e:
        run(ControlUnit(picture, "ip-adapter_face_id", "ip-adapter_tiny"))
    assert e.value.field == "controls[0].module"
    with pytest.raises(RequestError, match="IP-Adapter not found: nope .*ip-adapter_tiny"):
        run(ControlUnit(picture, "ip-adapter_clip_h", "nope"))
    assert engine._loaded is None or engine._loaded.pipe.unet.encoder_hid_proj is None


def test_kinds_become_ip_adapter_units_that_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ref.png"
    Image.new("RGB", (40, 30), "blue").save(path)
    text, tags = parse_image_tags(f"a cat {{image:{path}:0.6:style}}")
    assert text == "a cat" and tags[0].kind == "style"
    ref = unit_from_ref(f"{path}:0.8:reference")
    assert (ref.module, ref.weight, ref.ip_kind) == ("ip-adapter-auto", 0.8, IpKind.reference)
    comp = unit_from_ref(f"{path}:composition")
    assert (comp.module, comp.weight, comp.ip_kind) == ("ip-adapter-auto", 1.0, IpKind.composition)
    unit = ControlUnit(comp.image, "ip-adapter_clip_sdxl_plus_vith", "ip-adapter-plus_sdxl_vit-h [bc449f62]",
                       0.5, 0.1, 0.9, ip_kind=IpKind.style)  # fmt: skip
    request = Request(prompt="a cat", controls=(unit, ref)).validate()
    back, _ = schema.loads(schema.dumps(request, images="base64"))
    assert back == request and back.controls[0].ip_kind is IpKind.style
    assert (
        ControlUnit.from_dict({"module": "ip-adapter_clip_h", "ip_kind": "composition"}).ip_kind
        is IpKind.composition
    )
    with pytest.raises(ValueError):
        ControlUnit.from_dict({"ip_kind": "face"})
