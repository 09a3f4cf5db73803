"""The kind of a downloaded file from its header: safetensors key names, and torch pickles read opcode by opcode
(never unpickled), so an install lands in the right folder."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sdstudio.core.models.detect import detect_kind, pickle_keys
from sdstudio.core.models.entries import Family, Kind

Z = np.zeros((2, 2), dtype=np.float32)


@pytest.mark.parametrize(
    ("keys", "kind"),
    [
        (["control_model.input_blocks.0.0.weight", "control_model.zero_convs.0.0.weight"], Kind.controlnet),
        (["controlnet_cond_embedding.conv_in.weight", "controlnet_down_blocks.0.weight"], Kind.controlnet),
        (["image_proj.proj.weight", "ip_adapter.1.to_k_ip.weight"], Kind.ip_adapter),
        (["lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"], Kind.lora),
        (["encoder.down.0.block.0.conv1.weight", "decoder.up.0.block.0.conv1.weight"], Kind.vae),
        (["encoder.layers.0.weight", "decoder.layers.1.conv.0.weight"], Kind.taesd),
        (["emb_params"], Kind.embedding),
        (["conv_first.weight", "body.0.rdb1.conv1.weight", "conv_up1.weight"], Kind.upscaler),
        (["vision_model.embeddings.patch_embedding.weight", "visual_projection.weight"], Kind.clip_vision),
        (["something.unrelated"], None),
    ],
)
def test_safetensors_kinds(tmp_path: Path, keys: list[str], kind: Kind | None) -> None:
    path = tmp_path / "m.safetensors"
    save_file({k: Z for k in keys}, str(path))
    assert detect_kind(path)[0] is kind


def test_a_checkpoint_keeps_its_family(tmp_path: Path) -> None:
    path = tmp_path / "blob"  # a hub cache blob has no suffix: the real one is passed
    save_file(
        {
            "model.diffusion_model.input_blocks.0.0.weight": np.zeros((4, 9, 3, 3), dtype=np.float32),
            "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": Z,
        },
        str(path),
    )
    assert detect_kind(path, ".safetensors") == (Kind.checkpoint, Family.sd1_inpaint)


def _torch_zip(path: Path, payload: bytes) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")


def test_pickles_are_read_by_their_opcodes_never_run(tmp_path: Path) -> None:
    # 1. an ESRGAN-style upscaler (params_ema wrapper) and a ControlNet, as key names in the pickle
    up = tmp_path / "RealESRGAN_x4plus.pth"
    _torch_zip(up, pickle.dumps({"params_ema": {"conv_first.weight": 0, "body.0.rdb1.conv1.weight": 0}}))
    assert detect_kind(up)[0] is Kind.upscaler
    cn = tmp_path / "control.pth"
    _torch_zip(cn, pickle.dumps({"control_model.input_hint_block.0.weight": 0}))
    assert detect_kind(cn)[0] is Kind.controlnet

    # 2. a pickle that would run code when loaded is only read
    class Boom:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    evil = tmp_path / "evil.ckpt"
    _torch_zip(evil, pickle.dumps({"model.diffusion_model.x": Boom()}))
    assert detect_kind(evil) == (Kind.checkpoint, Family.unknown)
    assert "model.diffusion_model.x" in pickle_keys(evil)
    assert not (tmp_path / "pwned").exists()
    # 3. not a zip at all: nothing recognised, no exception
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a pickle")
    assert detect_kind(junk) == (None, Family.unknown)
