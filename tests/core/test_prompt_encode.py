"""Prompt encoding on real pipelines: parity with diffusers, weights, chunks, clip skip, SDXL, prompt editing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from sdstudio.core import demo, tokenizer
from sdstudio.core.engine import Engine
from sdstudio.core.prompt import build_conditioning, count_tokens
from sdstudio.core.request import Request

W = H = 64


@pytest.fixture(scope="module")
def engine(cpu_engine: Engine) -> Engine:
    return cpu_engine


@pytest.fixture(scope="module")
def pipe(engine: Engine):
    return engine._load("").pipe


def _embeds(pipe, prompt: str, negative: str = "", steps: int = 10, clip_skip: int = 1):
    kw = build_conditioning(pipe, prompt, negative, steps, clip_skip).kwargs_at(0)
    return kw["prompt_embeds"], kw["negative_prompt_embeds"]


def test_plain_prompt_equals_diffusers_encoding(pipe) -> None:
    with torch.no_grad():
        pe, ne = pipe.encode_prompt("a cat on a mat, oil painting", "cpu", 1, True, "blurry, ugly")
    p, n = _embeds(pipe, "a cat on a mat, oil painting", "blurry, ugly")
    assert torch.equal(p, pe) and torch.equal(n, ne)
    with torch.no_grad():
        _, ne = pipe.encode_prompt("a cat", "cpu", 1, True, "")
    assert torch.equal(_embeds(pipe, "a cat")[1], ne)


def test_weight_one_is_no_weight(pipe) -> None:
    assert torch.equal(_embeds(pipe, "a (cat:1.0) on a mat")[0], _embeds(pipe, "a cat on a mat")[0])


def test_weights_stay_finite_when_the_mean_is_near_zero(pipe) -> None:
    # the random-weight demo encoder gives this prompt a hidden-state mean near zero; A1111's mean restore
    # would divide by it (inf/NaN pictures), so the weights then stand alone
    plain = _embeds(pipe, "a fox, shiny style")[0][0]
    weighted = _embeds(pipe, "a fox, (shiny style:1.4)")[0][0]
    assert torch.isfinite(weighted).all()
    w = torch.ones(77, 1)
    w[4:6] = 1.4  # "shiny", "style"
    assert torch.allclose(weighted, plain * w, atol=1e-6)


def test_weighting_one_word_scales_its_positions_then_restores_the_mean(pipe) -> None:
    plain = _embeds(pipe, "a cat on a mat")[0][0]
    weighted = _embeds(pipe, "a (cat:1.5) on a mat")[0][0]
    # positions: 0 BOS, 1 "a", 2 "cat", 3 "on"...; A1111 "Original": z*w, then z * mean(z)/mean(z*w)
    w = torch.ones(77, 1)
    w[2] = 1.5
    expected = plain * w
    expected = expected * (plain.mean() / expected.mean())
    assert torch.allclose(weighted, expected, atol=1e-6)
    c = plain.mean() / (plain * w).mean()
    ratio = weighted / plain
    assert torch.allclose(ratio[2], torch.full_like(ratio[2], float(1.5 * c)), atol=1e-4)
    others = torch.cat([ratio[:2], ratio[3:]])
    assert torch.allclose(others, torch.full_like(others, float(c)), atol=1e-4)


def test_clip_skip_uses_an_earlier_layer(pipe) -> None:
    ids = pipe.tokenizer("a cat", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        out = pipe.text_encoder(ids, output_hidden_states=True)
        expected = pipe.text_encoder.final_layer_norm(out.hidden_states[-2])
    assert torch.equal(_embeds(pipe, "a cat", clip_skip=2)[0], expected)
    assert not torch.equal(_embeds(pipe, "a cat", clip_skip=2)[0], _embeds(pipe, "a cat")[0])


def test_break_and_long_prompts_make_chunks_negative_padded(pipe) -> None:
    p, n = _embeds(pipe, "a cat BREAK a dog")
    assert p.shape == n.shape == (1, 154, 32)
    with torch.no_grad():
        first, _ = pipe.encode_prompt("a cat", "cpu", 1, False)
        empty, _ = pipe.encode_prompt("", "cpu", 1, False)
    assert torch.equal(p[:, :77], first)
    assert torch.equal(n[:, 77:], empty)  # the negative is padded with empty-prompt chunks


def test_150_token_prompt_two_chunks_and_engine_runs(engine: Engine, pipe) -> None:
    prompt = " ".join(["cat"] * 150)
    assert count_tokens(prompt, pipe.tokenizer).display == "150/150"
    p, n = _embeds(pipe, prompt)
    assert p.shape[1] == n.shape[1] == 154
    result = engine.run(Request(prompt=prompt, steps=2, width=W, height=H, seed=1))
    assert result.images[0].image.size == (W, H)
    assert result.request.prompt == prompt


def test_prompt_editing_switches_at_step_5_of_10(engine: Engine, pipe) -> None:
    seen: list[torch.Tensor] = []

    def grab(module, args, kwargs):
        seen.append(kwargs["encoder_hidden_states"].clone())

    with torch.no_grad():
        cat, neg = pipe.encode_prompt("a cat", "cpu", 1, True, "")
        dog, _ = pipe.encode_prompt("a dog", "cpu", 1, True, "")
    handle = pipe.unet.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        engine.run(Request(prompt="a [cat:dog:0.5]", steps=10, width=W, height=H, seed=3, sampler="Euler"))
    finally:
        handle.remove()
    assert len(seen) == 10
    for i, ehs in enumerate(seen):
        want = dog if i >= 5 else cat  # A1111: cat for steps 1..5, dog from the 6th UNet call
        assert torch.equal(ehs, torch.cat([neg, want])), f"UNet call {i}"


def test_prompt_editing_with_batch_and_negative_schedule(engine: Engine, pipe) -> None:
    seen: list[torch.Tensor] = []
    handle = pipe.unet.register_forward_pre_hook(
        lambda m, a, kw: seen.append(kw["encoder_hidden_states"].clone()), with_kwargs=True
    )
    try:
        engine.run(
            Request(
                prompt="a [cat:dog:2]", negative_prompt="[ugly::3]", steps=4, batch_size=2, width=W, height=H
            )
        )
    finally:
        handle.remove()
    cond = build_conditioning(pipe, "a [cat:dog:2]", "[ugly::3]", 4, 1)
    assert cond.change_steps == {2, 3}
    for i, ehs in enumerate(seen):
        kw = cond.kwargs_at(i)
        n, p = kw["negative_prompt_embeds"], kw["prompt_embeds"]
        assert torch.equal(ehs, torch.cat([n, n, p, p])), f"UNet call {i}"


def test_engine_records_effective_prompts(engine: Engine) -> None:
    r = engine.run(
        Request(
            prompt="a girl, (-bad hands -unnatural hands)",
            negative_prompt="blurry",
            styles=("hands",),
            steps=1,
            width=W,
            height=H,
        )
    )
    assert r.request.prompt == "a girl"
    assert r.request.negative_prompt == (
        "blurry, bad hands, unnatural hands, extra fingers, fused fingers, bent fingers, bad anatomy"
    )
    assert r.request.styles == ()  # applied already: replaying the record must not apply them twice
    assert r.images[0].request.negative_prompt == r.request.negative_prompt


def test_cli_records_effective_negative_in_png(demo_home: Path, tmp_path: Path, capsys) -> None:
    from sdstudio.cli import main

    out = tmp_path / "girl.png"
    argv = ["generate", "a girl, (-bad hands -unnatural hands)", "--negative", "blurry"]
    argv += [
        "--steps",
        "1",
        "--width",
        "64",
        "--height",
        "64",
        "--seed",
        "5",
        "--device",
        "cpu",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    params = Image.open(out).text["parameters"]
    assert params.startswith("a girl\nNegative prompt: blurry, bad hands, unnatural hands\n")
    assert main([*argv[:4], "--style", "hands", "--style", "quality", *argv[4:]]) == 0
    negative = Image.open(out).text["parameters"].split("\n")[1]
    assert negative.startswith("Negative prompt: blurry, bad hands, unnatural hands, extra fingers")
    assert negative.count("bad hands") == 1 and "lowres" in negative
    assert main([*argv[:4], "--style", "nope", *argv[4:]]) == 2
    err = capsys.readouterr().err
    assert "unknown style 'nope'" in err and "hands" in err and "Traceback" not in err


def _tiny_sdxl():
    return demo.tiny_sdxl_pipeline()


@pytest.fixture(scope="module")
def sdxl(demo_home: Path):
    return _tiny_sdxl()


def test_sdxl_two_encoders_and_pooled(sdxl) -> None:
    with torch.no_grad():
        pe, ne, pp, npp = sdxl.encode_prompt("a cat", negative_prompt="ugly")
        _, zn, _, zp = sdxl.encode_prompt("a cat")
    kw = build_conditioning(sdxl, "a cat", "ugly", 4).kwargs_at(0)
    assert torch.equal(kw["prompt_embeds"], pe) and torch.equal(kw["negative_prompt_embeds"], ne)
    assert torch.equal(kw["pooled_prompt_embeds"], pp)
    assert torch.equal(kw["negative_pooled_prompt_embeds"], npp)
    kw = build_conditioning(sdxl, "a cat", "", 4).kwargs_at(0)  # empty negative: zeros, as diffusers
    assert torch.equal(kw["negative_prompt_embeds"], zn) and torch.equal(
        kw["negative_pooled_prompt_embeds"], zp
    )

    long = build_conditioning(sdxl, "a (cat:1.2) BREAK [cat:dog:2]", "", 4)
    first = long.kwargs_at(0)
    assert first["prompt_embeds"].shape == (1, 154, 72) and long.change_steps == {2}
    assert torch.equal(first["pooled_prompt_embeds"], pp)  # pooled from the first chunk
    image = sdxl(**first, num_inference_steps=2, width=W, height=H, output_type="pil").images[0]
    assert image.size == (W, H)


def test_sdxl_prompt_editing_swaps_embeddings_and_pooled(sdxl) -> None:
    from sdstudio.core.engine.builtin import PromptEditing
    from sdstudio.core.engine.denoise import step_tensor_inputs
    from sdstudio.core.engine.hooks import DenoisePass, StepState

    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def grab(module, args, kwargs):
        seen.append(
            (kwargs["encoder_hidden_states"].clone(), kwargs["added_cond_kwargs"]["text_embeds"].clone())
        )

    request = Request(prompt="a [cat:dog:0.5]", negative_prompt="ugly", steps=4, width=W, height=H)
    cond = build_conditioning(sdxl, request.prompt, request.negative_prompt, request.steps)
    kwargs, editing = cond.kwargs_at(0), PromptEditing()
    ctx = SimpleNamespace(request=request)  # what the extension reads of a run
    run = DenoisePass(sdxl, kwargs, 4, cond)

    def callback(pipe, i, t, tensors):
        editing.post_step(ctx, StepState(None, run, i, 4, t, tensors))
        return tensors

    handle = sdxl.unet.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        sdxl(
            **kwargs,
            num_inference_steps=4,
            width=W,
            height=H,
            callback_on_step_end=callback,
            callback_on_step_end_tensor_inputs=step_tensor_inputs(sdxl, [editing]),
        )
    finally:
        handle.remove()
    with torch.no_grad():
        cat, neg, cat_pool, neg_pool = sdxl.encode_prompt("a cat", negative_prompt="ugly")
        dog, _, dog_pool, _ = sdxl.encode_prompt("a dog", negative_prompt="ugly")
    assert len(seen) == 4
    for i, (ehs, pooled) in enumerate(seen):
        want, want_pool = (dog, dog_pool) if i >= 2 else (cat, cat_pool)
        assert torch.equal(ehs, torch.cat([neg, want])), f"UNet call {i}"
        assert torch.equal(pooled, torch.cat([neg_pool, want_pool])), f"UNet call {i}"


def test_sd2_style_tokenizer_pads_like_diffusers(pipe, tmp_path: Path) -> None:
    """SD 2.x tokenizers pad with "!" (id 0) after the end token; parity with diffusers holds there too."""
    import diffusers

    tokenizer.write_clip_tokenizer(tmp_path, pad_token="!")
    sd2 = diffusers.StableDiffusionPipeline(
        **{k: getattr(pipe, k) for k in ("vae", "text_encoder", "unet", "scheduler")},
        tokenizer=tokenizer.load_clip_tokenizer(tmp_path),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    assert sd2.tokenizer.pad_token_id == 0
    with torch.no_grad():
        pe, ne = sd2.encode_prompt("a cat on a mat", "cpu", 1, True, "")
    p, n = _embeds(sd2, "a cat on a mat")
    assert torch.equal(p, pe) and torch.equal(n, ne)
    assert not torch.equal(p, _embeds(pipe, "a cat on a mat")[0])


def test_negative_prompt_keeps_dash_groups(pipe) -> None:
    kw = build_conditioning(pipe, "a", "(-x)", 4).kwargs_at(0)
    assert not torch.equal(kw["negative_prompt_embeds"], _embeds(pipe, "a", "")[1])
