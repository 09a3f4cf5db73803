"""The fast path on the CPU and the demo model: parity with the standard path, compile messages, the disk index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sdstudio.core.engine import Engine
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import Progress, Request, RequestError
from sdstudio.core.settings import Settings
from sdstudio.core.speed.compile_cache import CompiledSizes, cache_folder
from sdstudio.core.speed.extension import use_fast_options
from sdstudio.core.speed.fast import COLD_MESSAGE, WARM_MESSAGE, FastOptions

REQ = Request(prompt="a lighthouse", negative_prompt="blurry", steps=2, width=64, height=64, seed=3)


def _arr(result) -> np.ndarray:
    return np.asarray(result.images[0].image.convert("RGB")).astype(np.int16)


def test_an_unknown_speed_is_refused_naming_the_choices() -> None:
    with pytest.raises(RequestError, match="speed.*standard or fast"):
        REQ.replace(speed="ludicrous").validate()


def test_fast_without_compile_stays_within_tolerance_of_standard(cpu_engine: Engine) -> None:
    standard = _arr(cpu_engine.run(REQ))
    fast = Engine(ModelLibrary(Settings.load()), device="cpu")
    use_fast_options(fast, FastOptions(compile=False, cpu_bf16=True))  # fused QKV, channels_last, bf16 UNet
    out = _arr(fast.run(REQ.replace(speed="fast")))
    loaded = fast._loaded
    assert loaded.extras["fast"].cpu_dtype == torch.bfloat16 and loaded.pipe.unet.dtype == torch.bfloat16
    assert np.abs(out - standard).mean() < 3.0 and np.abs(out - standard).max() < 48
    # back to standard: the model is reloaded as plain diffusers, bit for bit
    assert (_arr(fast.run(REQ)) == standard).all() and "fast" not in fast._loaded.extras
    fast.close()


def test_a_first_compile_says_so_and_a_second_start_knows_the_size_is_cached(demo_home: Path) -> None:
    seen: list[Progress] = []
    opts = FastOptions(compile=True, backend="eager", compile_vae=False, cpu_bf16=False)  # traced, not built
    first = Engine(ModelLibrary(Settings.load()), device="cpu")
    use_fast_options(first, opts)
    standard = _arr(first.run(REQ))
    out = _arr(first.run(REQ.replace(speed="fast"), on_step=seen.append))
    assert [p.message for p in seen if p.phase == "compile"] == [COLD_MESSAGE]
    assert seen[0].phase == "compile" and [p.step for p in seen[1:]] == [1, 2]
    assert np.abs(out - standard).max() <= 2  # fp32: fused QKV and channels_last only reorder sums
    seen.clear()
    first.run(REQ.replace(speed="fast", seed=4), on_step=seen.append)
    assert not [p for p in seen if p.phase == "compile"]  # the same size: nothing to compile
    first.close()
    assert CompiledSizes(cache_folder()).path.exists()
    second = Engine(
        ModelLibrary(Settings.load()), device="cpu"
    )  # a new start: the size is in the disk cache's index
    use_fast_options(second, opts)
    seen.clear()
    second.run(REQ.replace(speed="fast"), on_step=seen.append)
    assert [p.message for p in seen if p.phase == "compile"] == [WARM_MESSAGE]
    second.close()


def test_the_command_line_and_the_api_choose_the_speed() -> None:
    from sdstudio.api.convert import Limits, to_request
    from sdstudio.api.schemas import Txt2ImgBody
    from sdstudio.cli import build_parser
    from sdstudio.cli.generate import build_request

    args = build_parser().parse_args(["generate", "a cat", "--speed", "fast", "-o", "x.png"])
    assert build_request(args, Settings()).speed == "fast"
    limits = Limits(
        max_body_bytes=2**20, max_image_pixels=2**20, max_output_pixels=2**20, max_steps=50, max_images=4
    )
    assert (
        to_request(Txt2ImgBody(prompt="x", sdstudio_speed="fast"), "", limits, lambda name: name).speed
        == "fast"
    )
    body = Txt2ImgBody(prompt="x", override_settings={"sdstudio_speed": "fast"})
    assert to_request(body, "", limits, lambda name: name).speed == "fast"
    assert to_request(Txt2ImgBody(prompt="x"), "", limits, lambda name: name).speed == "standard"
    with pytest.raises(RequestError, match="speed"):
        to_request(Txt2ImgBody(prompt="x", sdstudio_speed="warp"), "", limits, lambda name: name)


def test_a_half_precision_decode_that_overflows_is_done_again_in_float32() -> None:
    from diffusers import AutoencoderKL

    from sdstudio.core.speed.fast import guard_vae_nan

    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=8, force_upcast=False,
    )  # fmt: skip
    with torch.no_grad():
        vae.decoder.conv_in.weight.fill_(3000.0)  # 36 taps x 2 x 3000: past fp16's 65504, inf, then NaN
    vae.to(torch.float16)
    z = torch.full((1, 4, 8, 8), 2.0, dtype=torch.float16)
    with torch.inference_mode():
        assert torch.isnan(vae.decode(z).sample).any()  # what an unguarded fp16 decode gives
        assert guard_vae_nan(vae) and not guard_vae_nan(vae)  # guarded once
        out = vae.decode(z).sample
    assert not torch.isnan(out).any() and vae.dtype == torch.float16  # decoded in fp32, the VAE back in fp16


def test_taesd_decodes_a_fast_job_and_the_model_keeps_its_own_vae(cpu_engine: Engine) -> None:
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    taesd = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1),
    ).eval()  # fmt: skip
    decoded: list[tuple[int, ...]] = []
    taesd.decoder.register_forward_hook(lambda mod, args, out: decoded.append(tuple(out.shape)))
    fast = Engine(ModelLibrary(Settings.load()), device="cpu")
    use_fast_options(fast, FastOptions(compile=False, taesd=taesd))
    result = fast.run(REQ.replace(speed="fast", cfg_scale=1.0))
    assert decoded == [(1, 3, 64, 64)] and result.images[0].image.size == (64, 64)
    assert type(fast._loaded.pipe.vae).__name__ == "AutoencoderKL"  # put back after the run
    fast.close()


def test_taesd_not_in_the_hub_cache_is_a_clear_error() -> None:
    from sdstudio.core.errors import ModelError
    from sdstudio.core.speed.taesd import load_taesd

    with pytest.raises(ModelError, match="madebyollin/taesdxl.*turn TAESD off"):
        load_taesd("sdxl", "cpu", torch.float32)  # the tests run offline with an empty cache


def test_a_bf16_module_takes_the_callers_dtype_but_keeps_the_timestep_exact() -> None:
    """in_bf16: sample and text in bf16, the timestep as given (bf16 would make 958.6 into 960), output back."""
    import torch

    from sdstudio.core.speed.fast import in_bf16

    seen: dict[str, torch.Tensor] = {}

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(4, 4)

        def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor):
            seen.update(sample=sample, timestep=timestep, text=encoder_hidden_states)
            return (self.proj(sample) * timestep.to(sample.dtype),)

    t = torch.tensor(958.6)
    for call in ("positional", "keyword"):
        net = Net()
        in_bf16(net)
        x, text = torch.randn(2, 4), torch.randn(2, 3)
        out = net(x, t, text) if call == "positional" else net(x, timestep=t, encoder_hidden_states=text)
        assert seen["sample"].dtype == torch.bfloat16 and seen["text"].dtype == torch.bfloat16
        assert seen["timestep"].dtype == torch.float32 and float(seen["timestep"]) == float(t)
        assert out[0].dtype == torch.float32


def test_the_cpu_fast_path_runs_the_text_encoder_under_bf16_autocast_and_gives_float32_back() -> None:
    """autocast_bf16: the linears compute in bf16, every output (hidden states too) comes back float32, close."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    from sdstudio.core.speed.fast import autocast_bf16

    torch.manual_seed(0)
    config = CLIPTextConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4)
    model = CLIPTextModel(config).eval()
    ids = torch.randint(0, 1000, (1, 77))
    with torch.inference_mode():
        reference = model(ids, output_hidden_states=True)
        seen: list[torch.dtype] = []
        getattr(model, "text_model", model).encoder.layers[0].mlp.fc1.register_forward_hook(
            lambda m, a, o: seen.append(o.dtype)
        )
        autocast_bf16(model)
        autocast_bf16(model)  # once is enough: a second call changes nothing
        out = model(ids, output_hidden_states=True)
    assert seen == [torch.bfloat16]
    assert model.dtype == torch.float32  # the weights stay float32 (LoRA patches, embeddings)
    for ours, theirs in (
        (out.last_hidden_state, reference.last_hidden_state),
        (out.hidden_states[-2], reference.hidden_states[-2]),
    ):
        assert ours.dtype == torch.float32
        assert float((ours - theirs).norm() / theirs.norm()) < 0.02
    assert out.pooler_output.dtype == torch.float32 and out[0].dtype == torch.float32
