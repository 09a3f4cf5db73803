"""LoRA / LyCORIS files patched into tiny SD 1.x modules: each format against its formula, exact restore,
key names, and clear errors before anything is changed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from sdstudio.core import demo
from sdstudio.core.errors import ModelError
from sdstudio.core.lora import LoraPatcher, LoraUse, parse_tags, read_lora, tags_in_editing
from sdstudio.core.lora.names import ldm_name
from sdstudio.core.request import RequestError

Q = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"  # a Linear 64 -> 64
CONV = "down_blocks.0.resnets.0.conv1"  # a Conv2d 32 -> 32, 3x3
TE = "encoder.layers.1.self_attn.k_proj"  # a Linear 32 -> 32 in the text encoder (transformers 5 names)
KQ = "lora_unet_" + Q.replace(".", "_")
KCONV = "lora_unet_" + CONV.replace(".", "_")
KTE = "lora_te_text_model_" + TE.replace(".", "_")


@pytest.fixture(scope="module")
def parts() -> dict[str, Any]:
    return demo.tiny_components(seed=1)


@pytest.fixture
def pipe(parts: dict[str, Any]) -> Any:
    return SimpleNamespace(unet=parts["unet"], text_encoder=parts["text_encoder"])


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _w(pipe: Any, component: str, name: str) -> torch.Tensor:
    return getattr(pipe, component).get_submodule(name).weight


def _save(
    tmp_path: Path, tensors: dict[str, torch.Tensor], name: str = "x", meta: dict | None = None
) -> Path:
    path = tmp_path / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=meta)
    return path


def _apply(pipe: Any, path: Path, unet: float = 1.0, te: float = 1.0) -> LoraPatcher:
    patcher = LoraPatcher()
    patcher.apply(pipe, [LoraUse(read_lora(path), unet, te, str(path))])
    return patcher


def _roundtrip(pipe: Any, path: Path, component: str, name: str, delta: torch.Tensor, m: float = 1.0) -> None:
    """Patching `path` at strength m changes exactly the layer by m·delta; restoring gives back the same bits."""
    w = _w(pipe, component, name)
    original = w.data.clone()
    patcher = _apply(pipe, path, m, m)
    torch.testing.assert_close(w.data, original + m * delta.reshape(w.shape), rtol=1e-5, atol=1e-6)
    assert not torch.equal(w.data, original)
    patcher.restore()
    assert torch.equal(w.data, original)


def test_kohya_lora_linear_conv_and_text_encoder(pipe: Any, tmp_path: Path) -> None:
    g = _g(1)
    up, down = torch.randn(64, 4, generator=g), torch.randn(4, 64, generator=g)
    cup, cdown = torch.randn(32, 2, 1, 1, generator=g), torch.randn(2, 32, 3, 3, generator=g)
    tup, tdown = torch.randn(32, 4, generator=g), torch.randn(4, 32, generator=g)
    path = _save(
        tmp_path,
        {
            f"{KQ}.lora_up.weight": up,
            f"{KQ}.lora_down.weight": down,
            f"{KQ}.alpha": torch.tensor(2.0),
            f"{KCONV}.lora_up.weight": cup,
            f"{KCONV}.lora_down.weight": cdown,
            f"{KCONV}.alpha": torch.tensor(1.0),
            f"{KTE}.lora_up.weight": tup,
            f"{KTE}.lora_down.weight": tdown,
        },
    )
    _roundtrip(pipe, path, "unet", Q, 0.5 * up @ down, m=0.7)  # alpha 2 / rank 4
    _roundtrip(pipe, path, "unet", CONV, 0.5 * (cup.flatten(1) @ cdown.flatten(1)), m=-0.6)  # LoCon
    _roundtrip(pipe, path, "text_encoder", TE, tup @ tdown)  # no alpha: scale 1
    # separate strengths: <lora:x:te:unet>
    w, t = _w(pipe, "unet", Q), _w(pipe, "text_encoder", TE)
    w0, t0 = w.data.clone(), t.data.clone()
    patcher = _apply(pipe, path, unet=0.0, te=1.0)
    assert torch.equal(w.data, w0) and not torch.equal(t.data, t0)
    patcher.restore()


def test_ldm_names_of_the_sd15_unet() -> None:
    up_attention = [False, True, True, True]
    assert ldm_name("down_blocks.1.attentions.0.proj_in", 2, up_attention) == "input_blocks.4.1.proj_in"
    assert ldm_name("down_blocks.0.downsamplers.0.conv", 2, up_attention) == "input_blocks.3.0.op"
    assert ldm_name("up_blocks.1.upsamplers.0.conv", 2, up_attention) == "output_blocks.5.2.conv"
    assert ldm_name("up_blocks.0.upsamplers.0.conv", 2, up_attention) == "output_blocks.2.1.conv"
    assert (
        ldm_name("up_blocks.3.resnets.2.conv_shortcut", 2, up_attention)
        == "output_blocks.11.0.skip_connection"
    )
    assert ldm_name("mid_block.resnets.1.conv1", 2, up_attention) == "middle_block.2.in_layers.2"
    assert ldm_name("mid_block.attentions.0.transformer_blocks.0.attn2.to_k", 2, up_attention) == (
        "middle_block.1.transformer_blocks.0.attn2.to_k"
    )
    assert ldm_name("conv_in", 2, up_attention) == "input_blocks.0.0"


def test_ldm_style_kohya_names_reach_the_same_layer(pipe: Any, tmp_path: Path) -> None:
    # the tiny UNet has one layer per block: down_blocks.1.attentions.0 is input_blocks.3.1 (SDXL kohya style)
    key = "lora_unet_input_blocks_3_1_transformer_blocks_0_attn1_to_q"
    up, down = torch.randn(64, 2, generator=_g(2)), torch.randn(2, 64, generator=_g(3))
    path = _save(tmp_path, {f"{key}.lora_up.weight": up, f"{key}.lora_down.weight": down})
    _roundtrip(pipe, path, "unet", Q, up @ down)


def test_diffusers_and_peft_keys(pipe: Any, tmp_path: Path) -> None:
    g = _g(4)
    a, b = torch.randn(3, 64, generator=g), torch.randn(64, 3, generator=g)
    ta, tb = torch.randn(3, 32, generator=g), torch.randn(32, 3, generator=g)
    path = _save(
        tmp_path,
        {
            f"unet.{Q}.lora_A.weight": a,
            f"unet.{Q}.lora_B.weight": b,
            f"text_encoder.text_model.{TE}.lora_A.weight": ta,
            f"text_encoder.text_model.{TE}.lora_B.weight": tb,
        },
    )
    _roundtrip(pipe, path, "unet", Q, b @ a, m=0.8)
    _roundtrip(pipe, path, "text_encoder", TE, tb @ ta)
    old = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora"
    path2 = _save(tmp_path, {f"{old}.down.weight": a, f"{old}.up.weight": b}, "old-diffusers")
    _roundtrip(pipe, path2, "unet", Q, b @ a)


def test_loha_with_and_without_tucker(pipe: Any, tmp_path: Path) -> None:
    g = _g(5)
    w1a, w1b, w2a, w2b = (torch.randn(*s, generator=g) for s in ((64, 4), (4, 64), (64, 4), (4, 64)))
    path = _save(
        tmp_path,
        {f"{KQ}.hada_w1_a": w1a, f"{KQ}.hada_w1_b": w1b, f"{KQ}.hada_w2_a": w2a, f"{KQ}.hada_w2_b": w2b}
        | {f"{KQ}.alpha": torch.tensor(1.0)},
    )
    _roundtrip(pipe, path, "unet", Q, (w1a @ w1b) * (w2a @ w2b) / 4)
    # CP/Tucker conv: t [r, r, 3, 3], a [out, r], b [r, in]
    t1, t2 = torch.randn(2, 2, 3, 3, generator=g), torch.randn(2, 2, 3, 3, generator=g)
    # in the CP form both factors are [rank, features]: a [r, out], b [r, in]
    a1, b1, a2, b2 = (torch.randn(2, 32, generator=g) for _ in range(4))

    def rebuild(t: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(32, 32, 3, 3)
        for i in range(2):
            for j in range(2):
                out += torch.outer(a[i, :], b[j, :])[:, :, None, None] * t[i, j]
        return out

    path = _save(
        tmp_path,
        {
            f"{KCONV}.hada_w1_a": a1,
            f"{KCONV}.hada_w1_b": b1,
            f"{KCONV}.hada_w2_a": a2,
            f"{KCONV}.hada_w2_b": b2,
        }
        | {f"{KCONV}.hada_t1": t1, f"{KCONV}.hada_t2": t2, f"{KCONV}.alpha": torch.tensor(2.0)},
        "loha-cp",
    )
    _roundtrip(pipe, path, "unet", CONV, rebuild(t1, a1, b1) * rebuild(t2, a2, b2) * (2.0 / 2))


def test_lokr_full_and_decomposed_factors(pipe: Any, tmp_path: Path) -> None:
    g = _g(6)
    w1 = torch.randn(8, 8, generator=g)
    w2a, w2b = torch.randn(8, 2, generator=g), torch.randn(2, 8, generator=g)
    path = _save(
        tmp_path,
        {
            f"{KQ}.lokr_w1": w1,
            f"{KQ}.lokr_w2_a": w2a,
            f"{KQ}.lokr_w2_b": w2b,
            f"{KQ}.alpha": torch.tensor(1.0),
        },
    )
    _roundtrip(pipe, path, "unet", Q, torch.kron(w1, w2a @ w2b) * 0.5)
    full2 = torch.randn(8, 8, generator=g)
    path = _save(
        tmp_path, {f"{KQ}.lokr_w1": w1, f"{KQ}.lokr_w2": full2, f"{KQ}.alpha": torch.tensor(7.0)}, "lokr2"
    )
    _roundtrip(pipe, path, "unet", Q, torch.kron(w1, full2))  # no rank: alpha ignored


def test_full_diff_with_bias(pipe: Any, tmp_path: Path) -> None:
    diff = torch.randn(64, 64, generator=_g(7))
    layer = "down_blocks.1.attentions.0.proj_in"  # has a bias of 64
    key = "lora_unet_" + layer.replace(".", "_")
    bias = torch.randn(_w(pipe, "unet", layer).shape[0], generator=_g(9))
    path = _save(tmp_path, {f"{KQ}.diff": diff, f"{key}.diff_b": bias})
    _roundtrip(pipe, path, "unet", Q, diff, m=0.5)
    module = pipe.unet.get_submodule(layer)
    b0, w0 = module.bias.data.clone(), module.weight.data.clone()
    patcher = _apply(pipe, path, 2.0)
    torch.testing.assert_close(module.bias.data, b0 + 2.0 * bias)
    assert torch.equal(module.weight.data, w0)
    patcher.restore()
    assert torch.equal(module.bias.data, b0)


def test_dora_renormalises_per_input_column(pipe: Any, tmp_path: Path) -> None:
    g = _g(10)
    up, down = torch.randn(64, 4, generator=g) * 0.1, torch.randn(4, 64, generator=g) * 0.1
    magnitude = torch.rand(1, 64, generator=g) + 0.5
    path = _save(
        tmp_path,
        {f"{KQ}.lora_up.weight": up, f"{KQ}.lora_down.weight": down, f"{KQ}.dora_scale": magnitude}
        | {f"{KQ}.alpha": torch.tensor(4.0)},
    )
    w = _w(pipe, "unet", Q).data.clone()
    v = w + up @ down
    full = magnitude * v / v.norm(dim=0, keepdim=True)
    _roundtrip(pipe, path, "unet", Q, full - w)
    _roundtrip(pipe, path, "unet", Q, (full - w), m=0.5)  # blended: W + m·(DoRA(W) - W)


def test_restore_is_bit_exact_after_100_cycles_and_switching_touches_only_changes(
    pipe: Any, tmp_path: Path
) -> None:
    g = _g(11)
    a = _save(
        tmp_path,
        {
            f"{KQ}.lora_up.weight": torch.randn(64, 2, generator=g),
            f"{KQ}.lora_down.weight": torch.randn(2, 64, generator=g),
        },
        "a",
    )
    b = _save(
        tmp_path,
        {
            f"{KTE}.lora_up.weight": torch.randn(32, 2, generator=g),
            f"{KTE}.lora_down.weight": torch.randn(2, 32, generator=g),
        },
        "b",
    )
    fa, fb = read_lora(a), read_lora(b)
    before = {k: v.clone() for k, v in pipe.unet.state_dict().items()} | {
        "te." + k: v.clone() for k, v in pipe.text_encoder.state_dict().items()
    }
    patcher = LoraPatcher()
    for i in range(100):
        patcher.apply(pipe, [LoraUse(fa, 0.3 + i / 100, 1.0, "a"), LoraUse(fb, 1.0, -0.5, "b")])
        patcher.apply(pipe, [])
    assert patcher.changed == 2
    after = pipe.unet.state_dict() | {"te." + k: v for k, v in pipe.text_encoder.state_dict().items()}
    assert all(torch.equal(before[k], after[k]) for k in before)
    # switching {a, b} -> {a, b'} recomputes only b's layer; the same set again costs nothing
    assert patcher.apply(pipe, [LoraUse(fa, 1.0, 1.0, "a"), LoraUse(fb, 1.0, 1.0, "b")]) == 2
    assert patcher.apply(pipe, [LoraUse(fa, 1.0, 1.0, "a"), LoraUse(fb, 1.0, 0.5, "b")]) == 1
    assert patcher.apply(pipe, [LoraUse(fa, 1.0, 1.0, "a"), LoraUse(fb, 1.0, 0.5, "b")]) == 0
    assert patcher.apply(pipe, [LoraUse(fa, 1.0, 1.0, "a")]) == 1
    patcher.restore()


def test_wrong_family_unknown_layout_and_damage_are_clear_and_change_nothing(
    pipe: Any, tmp_path: Path
) -> None:
    state = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    good = _save(
        tmp_path,
        {f"{KQ}.lora_up.weight": torch.ones(64, 2), f"{KQ}.lora_down.weight": torch.ones(2, 64)},
        "good",
    )
    # an SD 1.5-sized layer (320 wide) does not fit the tiny model: refused before the good one is applied
    big = _save(
        tmp_path,
        {f"{KQ}.lora_up.weight": torch.ones(320, 4), f"{KQ}.lora_down.weight": torch.ones(4, 320)},
        "big",
    )
    patcher = LoraPatcher()
    with pytest.raises(
        ModelError, match=r"LoRA big \(.*big.safetensors\) does not fit this model.*another model family"
    ):
        patcher.apply(pipe, [LoraUse(read_lora(good), 1, 1, "g"), LoraUse(read_lora(big), 1, 1, "b")])
    assert all(torch.equal(state[k], v) for k, v in pipe.unet.state_dict().items())
    nothing = _save(
        tmp_path,
        {
            "lora_unet_no_such_layer.lora_up.weight": torch.ones(4, 2),
            "lora_unet_no_such_layer.lora_down.weight": torch.ones(2, 4),
        },
        "nothing",
    )
    with pytest.raises(ModelError, match="nothing.*no layer named like 'lora_unet_no_such_layer'"):
        patcher.apply(pipe, [LoraUse(read_lora(nothing))])
    odd = _save(tmp_path, {f"{KQ}.oft_blocks": torch.ones(2, 2)}, "odd")
    with pytest.raises(ModelError, match=r"odd.safetensors: unknown LoRA key layout .*oft_blocks"):
        read_lora(odd)
    half = _save(tmp_path, {f"{KQ}.lora_up.weight": torch.ones(64, 2)}, "half")
    with pytest.raises(ModelError, match=r"half.safetensors: layer .* is incomplete"):
        read_lora(half)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(ModelError, match=r"cut.safetensors: not a readable LoRA file, or damaged"):
        read_lora(cut)


def test_tags_as_a1111_reads_them() -> None:
    tags = parse_tags("a <lora:one:0.5> b <lyco:two:0.4:0.9>, <lora:three> <lora:four:te=0.2:unet=-1>")
    assert [(t.name, t.te, t.unet) for t in tags] == [
        ("one", 0.5, 0.5),
        ("two", 0.4, 0.9),  # A1111: te first, then unet
        ("three", 1.0, 1.0),
        ("four", 0.2, -1.0),
    ]
    with pytest.raises(RequestError, match=r"<lora:x:abc>: 'abc' is not a number"):
        parse_tags("<lora:x:abc>")
    assert tags_in_editing("[<lora:a:1>::10] cat <lora:b:1>", 20) == ["<lora:a:1>"]
    assert tags_in_editing("[cat:dog:0.5] <lora:b:1>", 20) == []
    assert tags_in_editing("[<lora:a:1>|x]", 4) == ["<lora:a:1>"]


def test_in_place_mode_keeps_every_tensor_address_and_restores_exactly(pipe: Any, tmp_path: Path) -> None:
    g = _g(12)
    up, down = torch.randn(64, 2, generator=g), torch.randn(2, 64, generator=g)
    path = _save(
        tmp_path,
        {f"{KQ}.lora_up.weight": up, f"{KQ}.lora_down.weight": down}
        | {f"{KTE}.diff": torch.randn(32, 32, generator=g), f"{KTE}.diff_b": torch.randn(32, generator=g)},
    )
    q, te = pipe.unet.get_submodule(Q), pipe.text_encoder.get_submodule(TE)
    pointers = (q.weight.data_ptr(), te.weight.data_ptr(), te.bias.data_ptr())
    w0, tw0, tb0 = q.weight.data.clone(), te.weight.data.clone(), te.bias.data.clone()
    swapped = _apply(pipe, path, 0.7, 0.7)
    expected = (q.weight.data.clone(), te.weight.data.clone(), te.bias.data.clone())
    swapped.restore()
    patcher = LoraPatcher()
    patcher.in_place = True
    use = LoraUse(read_lora(path), 0.7, 0.7, "x")
    for _ in range(3):
        patcher.apply(pipe, [use])
        assert (q.weight.data_ptr(), te.weight.data_ptr(), te.bias.data_ptr()) == pointers
        assert all(
            torch.equal(a, b)
            for a, b in zip(expected, (q.weight.data, te.weight.data, te.bias.data), strict=True)
        )
        patcher.apply(pipe, [])
        assert (q.weight.data_ptr(), te.weight.data_ptr(), te.bias.data_ptr()) == pointers
        assert (
            torch.equal(q.weight.data, w0)
            and torch.equal(te.weight.data, tw0)
            and torch.equal(te.bias.data, tb0)
        )
    patcher.apply(pipe, [use])
    patcher.in_place = False  # switching modes restores first
    assert torch.equal(q.weight.data, w0)
