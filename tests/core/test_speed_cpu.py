"""The CPU fast path's kernels: blocked long attention, convolution weights kept blocked, the text encoder's
autocast without a weight cache, and the allocator kept from page-faulting every call."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from sdstudio.core.engine import Engine
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import Request
from sdstudio.core.settings import Settings
from sdstudio.core.speed import cpu_attention
from sdstudio.core.speed.cpu_attention import CpuAttnProcessor, blocked_attention
from sdstudio.core.speed.extension import use_fast_options
from sdstudio.core.speed.fast import FastOptions
from sdstudio.core.speed.packed import ATTR, forget_packed, pack_weights
from tests.core.test_lora_engine import webui  # noqa: F401 (the A1111 tree with one LoRA, a LoCon among its layers)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def test_blocked_attention_matches_float32_attention_within_bf16_rounding() -> None:
    torch.manual_seed(0)
    # 1100 query rows: two full blocks and a remainder; batch 2 and 3 heads walk every loop
    q = torch.randn(2, 3, 1100, 32)
    k, v = torch.randn(2, 3, 1030, 32), torch.randn(2, 3, 1030, 32)
    reference = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 1100, 96)
    out = blocked_attention(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert out.shape == (2, 1100, 96) and out.dtype == torch.bfloat16
    assert _rel(out, reference) < 0.01
    flash = F.scaled_dot_product_attention(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert _rel(out, reference) < 3 * _rel(flash.transpose(1, 2).reshape(2, 1100, 96), reference)


def test_the_processor_blocks_long_self_attention_and_hands_short_keys_to_the_one_it_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, ...]] = []
    real = cpu_attention.blocked_attention
    monkeypatch.setattr(
        cpu_attention, "blocked_attention", lambda q, k, v: calls.append(q.shape) or real(q, k, v)
    )
    torch.manual_seed(1)
    attn = Attention(64, cross_attention_dim=48, heads=2, dim_head=32).bfloat16().eval()
    hidden, text = torch.randn(1, 1024, 64).bfloat16(), torch.randn(1, 77, 48).bfloat16()
    with torch.inference_mode():
        attn.set_processor(AttnProcessor2_0())
        plain_cross = attn(hidden, text)
        attn.set_processor(CpuAttnProcessor(AttnProcessor2_0()))
        cross = attn(hidden, text)
        assert calls == []  # 77 text tokens: SDPA, bit for bit
        assert torch.equal(cross, plain_cross)

    self_attn = Attention(64, heads=2, dim_head=32).bfloat16().eval()
    with torch.inference_mode():
        expected = self_attn(hidden)  # diffusers' default processor (SDPA)
        self_attn.set_processor(CpuAttnProcessor(self_attn.processor))
        ours = self_attn(hidden)
        assert calls == [(1, 2, 1024, 32)] and _rel(ours, expected) < 0.01
        self_attn.fuse_projections()  # the fast path fuses q, k and v into one projection
        fused = self_attn(hidden)
        assert len(calls) == 2 and _rel(fused, expected) < 0.01
        # float32 (a CPU without bf16) and masks are not its business
        assert _rel(self_attn.float()(hidden.float()), expected) < 0.01 and len(calls) == 2


def _conv_stack() -> torch.nn.Sequential:
    torch.manual_seed(2)
    return torch.nn.Sequential(
        torch.nn.Conv2d(64, 96, 3, padding=1),
        torch.nn.SiLU(),
        torch.nn.Conv2d(96, 32, 3, stride=2, padding=1),
    ).eval()


def test_packed_convolutions_are_bit_exact_follow_weight_changes_and_stay_out_of_training() -> None:
    eager = _conv_stack().bfloat16().to(memory_format=torch.channels_last)
    packed = _conv_stack().bfloat16().to(memory_format=torch.channels_last)
    assert pack_weights(packed) == 2 and pack_weights(packed) == 0  # once is enough
    small = torch.randn(2, 64, 8, 8).bfloat16().to(memory_format=torch.channels_last)
    large = torch.randn(1, 64, 64, 64).bfloat16().to(memory_format=torch.channels_last)
    with torch.no_grad():
        assert torch.equal(packed(small), eager(small))
        assert getattr(packed[0], ATTR) is not None  # 2 x 8 x 8 outputs: the blocked copy is kept
        assert torch.equal(packed(large), eager(large))
        # 64 x 64 outputs: eager (the copy of the small call stays, nothing new is packed)
        assert getattr(packed[0], ATTR)[0][0] == tuple(small.shape)
        # a weight changed in place (a LoRA patch) or swapped is packed again
        for model in (eager, packed):
            model[0].weight.add_(0.25)
        assert torch.equal(packed(small), eager(small))
        for model in (eager, packed):
            model[2].weight.data = model[2].weight.data * 0.5
        assert torch.equal(packed(small), eager(small))
    forget_packed(packed)
    assert getattr(packed[0], ATTR) is None
    # gradients (training) run the eager layers
    packed.float().requires_grad_(True)
    packed(small.float()).sum().backward()
    assert packed[0].weight.grad is not None and getattr(packed[0], ATTR) is None


def test_loras_on_the_fast_path_reach_the_packed_convolutions(webui: tuple[Path, dict]) -> None:  # noqa: F811
    root, _ = webui
    library = ModelLibrary(Settings(model_roots=[str(root)]))
    options = FastOptions(compile=False, cpu_bf16=True)

    def engine() -> Engine:
        e = Engine(library, device="cpu")
        use_fast_options(e, options)
        return e

    def run(e: Engine, prompt: str) -> np.ndarray:
        req = Request(prompt=prompt, steps=3, width=64, height=64, seed=5, sampler="Euler", speed="fast")
        return np.asarray(e.run(req).images[0].image).astype(np.int16)

    fast = engine()
    plain = run(fast, "a fox")  # blocked copies of the model's own weights (the tiny latents are all small)
    unet = fast._loaded.pipe.unet
    assert getattr(unet.mid_block.resnets[0].conv1, ATTR) is not None
    styled = run(fast, "a fox <lora:ink-style:0.8>")  # the LoCon patches mid_block.resnets.0.conv1
    again = run(fast, "a fox")
    fresh = engine()
    assert np.array_equal(styled, run(fresh, "a fox <lora:ink-style:0.8>"))  # packed from patched weights
    assert np.array_equal(plain, again) and np.abs(styled - plain).max() > 0
    fast.close()
    fresh.close()


def test_the_text_encoder_autocast_keeps_no_weight_cache() -> None:
    """With the cache, each call held a fresh bf16 copy of every weight: page faults, twice the time."""
    from transformers import CLIPTextConfig, CLIPTextModel

    from sdstudio.core.speed.fast import autocast_bf16

    config = CLIPTextConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    model = CLIPTextModel(config).eval()
    seen: list[bool] = []
    model.get_input_embeddings().register_forward_hook(
        lambda m, a, o: seen.append(torch.is_autocast_cache_enabled())
    )
    autocast_bf16(model)
    with torch.no_grad():
        model(torch.randint(0, 1000, (1, 77)))
    assert seen == [False]


ALLOCATE = """
import sys, torch
from sdstudio.core.speed.allocator import keep_freed_memory, release_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // (1 << 20)
base = rss_mib()
blocks = [torch.ones(2 << 20) for _ in range(25)]  # 25 x 8 MiB, touched: a UNet call's working memory
held = rss_mib() - base
del blocks
kept = rss_mib() - base
release_freed_memory()  # as the engine does when it unloads a model
print(held, kept, rss_mib() - base)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc's")
def test_the_tuned_allocator_keeps_freed_tensor_memory_until_the_model_is_unloaded() -> None:
    """By default glibc hands the blocks back on free, and the next call faults them in again."""
    root = str(Path(__file__).resolve().parents[2])

    def rss(mode: str) -> list[int]:
        out = subprocess.run(
            [sys.executable, "-c", ALLOCATE, mode], capture_output=True, text=True, check=True, cwd=root
        )
        return [int(v) for v in out.stdout.split()]

    held, kept, released = rss("plain")
    assert held >= 190 and kept < 20 and released < 20
    held, kept, released = rss("tuned")
    assert held >= 190 and kept >= 190 and released < 20


def _sysfs(root: Path, cpus: dict[int, tuple[int, int]], quota: str | None = None) -> Path:
    """A /sys with the given CPUs (cpu -> (package, core)) and, optionally, a cgroup v2 cpu.max."""
    for cpu, (package, core) in cpus.items():
        topology = root / "devices" / "system" / "cpu" / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    if quota is not None:
        (root / "fs" / "cgroup").mkdir(parents=True)
        (root / "fs" / "cgroup" / "cpu.max").write_text(quota + "\n")
    return root


def test_threads_are_the_physical_cores_the_process_may_use(tmp_path: Path) -> None:
    from sdstudio.core.speed.threads import available_cores

    # 4 cores with 2 hyper-threads each (cpu N and N+4 share a core), on one package
    smt = _sysfs(tmp_path / "smt", {c: (0, c % 4) for c in range(8)})
    assert available_cores(smt, allowed=set(range(8))) == 4
    assert available_cores(smt, allowed={0, 4, 1}) == 2  # the affinity set: two cores, one of them twice
    # a container's quota of 1.5 CPUs rounds up to 2; "max" is no quota
    quota = _sysfs(tmp_path / "quota", {c: (0, c) for c in range(8)}, quota="150000 100000")
    assert available_cores(quota, allowed=set(range(8))) == 2
    unlimited = _sysfs(tmp_path / "max", {c: (c // 2, 0) for c in range(4)}, quota="max 100000")
    assert available_cores(unlimited, allowed=set(range(4))) == 2  # two packages, one core each
    # no topology (not Linux): the logical CPUs
    assert available_cores(tmp_path / "none", allowed={0, 1, 2}) == 3


def test_the_engine_sets_torch_threads_from_the_settings(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdstudio.core.speed.threads import available_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        engine = Engine.from_settings(ModelLibrary(Settings(cpu_threads=1)), device="cpu")
        engine.run(Request(prompt="a fox", steps=1, width=64, height=64, seed=1))
        assert torch.get_num_threads() == 1
        engine.cpu_threads = 0  # automatic, at the next load
        engine.close()
        engine.run(Request(prompt="a fox", steps=1, width=64, height=64, seed=1))
        assert torch.get_num_threads() == available_cores()
        engine.close()
        # the user's OMP_NUM_THREADS wins over the settings
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        torch.set_num_threads(3)
        engine.cpu_threads = 1
        engine.run(Request(prompt="a fox", steps=1, width=64, height=64, seed=1))
        assert torch.get_num_threads() == 3
        engine.close()
    finally:
        torch.set_num_threads(before)
