"""CPU few-step: one 512² picture of an SD-Turbo-architecture model (SD 2.1 UNet, random weights), 1 step, CFG 1
(no negative batch), Euler a SGM Uniform, end to end through Engine.run (text encoder included), and where the
time goes (text encoder, UNet, decode). Variants alternated in one run:
  fp32   the standard path: fp32 UNet, full VAE decode
  taesd  fp32 UNet, TAESD decode (AutoencoderTiny, random weights, the real TAESD architecture)
  fast   speed "fast": bf16 UNet + channels_last where the CPU has bf16, fused QKV, blocked long attention and
         low-resolution weights, text encoder under bf16 autocast, TAESD decode
Target: fast <= 3.5 s per picture on the 2-core build machine.
Usage: python benchmarks/cpu_fewstep.py [--rounds N] [--size PX] [--variants fp32,taesd,fast] [--json PATH]
(`--variants fast` times the fast path alone, pictures back to back as an artist makes them.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _builders  # noqa: E402

PARTS = ("text encoder", "UNet", "decode")


class PartTimer:
    """Seconds spent inside modules (forward pre/post hooks), per part, for the current call."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._t0: dict[int, float] = {}

    def watch(self, part: str, module: Any) -> None:
        def start(mod: Any, args: Any) -> None:
            self._t0[id(mod)] = time.perf_counter()

        def stop(mod: Any, args: Any, out: Any) -> None:
            self.seconds[part] += time.perf_counter() - self._t0.pop(id(mod))

        module.register_forward_pre_hook(start)
        module.register_forward_hook(stop)


def taesd_model() -> Any:
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    return AutoencoderTiny().eval()  # the default configuration is TAESD's architecture


def unet_parity(pipe: Any, fast_pipe: Any, size: int) -> float:
    """Relative error of the fast UNet's prediction against the fp32 one, on the same input."""
    import torch

    torch.manual_seed(1)
    sample = torch.randn(1, 4, size // 8, size // 8)
    text = torch.randn(1, 77, pipe.unet.config.cross_attention_dim)
    t = torch.tensor(999)
    with torch.inference_mode():
        ref = pipe.unet(sample, t, text, return_dict=False)[0]
        out = fast_pipe.unet(sample, t, text, return_dict=False)[0]
    return float((out.float() - ref).norm() / ref.norm())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--variants", default="fp32,taesd,fast", help="which variants, comma-separated")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    _builders.ensure_home()
    import copy

    import torch

    from sdstudio.core.engine import Engine
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.request import Request
    from sdstudio.core.settings import Settings
    from sdstudio.core.speed.allocator import keep_freed_memory
    from sdstudio.core.speed.extension import use_fast_options
    from sdstudio.core.speed.fast import FastOptions, cpu_has_bf16

    # 1. the model: SD 2.1-base architecture (SD-Turbo's), random weights; the fast copy shares nothing.
    #    The engine tunes the allocator before it loads weights on the CPU; these are built here, so first
    keep_freed_memory()
    t0 = time.perf_counter()
    pipe = _builders.build("sd21", "cpu", torch.float32)
    fast_pipe = copy.deepcopy(pipe)
    taesd = taesd_model()
    built = time.perf_counter() - t0
    timer = PartTimer()
    for p in (pipe, fast_pipe):
        timer.watch("text encoder", p.text_encoder)
        timer.watch("UNet", p.unet)
        timer.watch("decode", p.vae.decoder)
    timer.watch("decode", taesd.decoder)
    bf16 = cpu_has_bf16()
    print(
        f"CPU: {torch.backends.cpu.get_cpu_capability()}, native bf16 {bf16}, torch threads "
        f"{torch.get_num_threads()}; model built in {built:.1f}s",
        flush=True,
    )
    with _builders.serve_pipelines({"std": pipe, "fast": fast_pipe}, tag="sd21-cpu-") as refs:
        library = ModelLibrary(Settings.load())
        engines = {name: Engine(library, device="cpu") for name in ("fp32", "taesd", "fast")}
        plain = FastOptions(compile=False, fuse_qkv=False, channels_last=False, cpu_bf16=False, taesd=taesd)
        use_fast_options(engines["taesd"], plain)  # the standard model, only its decoder swapped
        use_fast_options(engines["fast"], FastOptions(compile=False, taesd=taesd))
        req = Request(
            prompt="a lighthouse at dusk, stormy sea",
            steps=1,
            cfg_scale=1.0,
            sampler="Euler a SGM Uniform",
            width=args.size,
            height=args.size,
            seed=1,
        )
        requests = {
            "fp32": req.replace(model=refs["std"]),
            "taesd": req.replace(model=refs["std"], speed="fast"),
            "fast": req.replace(model=refs["fast"], speed="fast"),
        }
        names = [n for n in requests if n in args.variants.split(",")]
        totals: dict[str, list[float]] = {n: [] for n in names}
        parts: dict[str, dict[str, list[float]]] = {n: {p: [] for p in PARTS} for n in names}
        for n in names:  # 2. first calls: loading, the fast path's preparation
            t0 = time.perf_counter()
            engines[n].run(requests[n])
            print(f"  {n}: first call {time.perf_counter() - t0:.2f}s", flush=True)
        for r in range(args.rounds):  # 3. timed, alternated
            for n in names[r % len(names) :] + names[: r % len(names)]:
                timer.seconds.clear()
                t0 = time.perf_counter()
                engines[n].run(requests[n])
                totals[n].append(time.perf_counter() - t0)
                for p in PARTS:
                    parts[n][p].append(timer.seconds[p])
            print(f"  round {r + 1}: " + ", ".join(f"{n} {totals[n][-1]:.2f}s" for n in names), flush=True)
        parity = unet_parity(pipe, fast_pipe, args.size)
    out: dict[str, Any] = {"size": args.size, "threads": torch.get_num_threads(), "native_bf16": bf16}
    print(f"SD-Turbo architecture, {args.size}², 1 step, CFG 1, median of {args.rounds} (seconds):")
    print(f"  {'variant':8s} {'total':>7s} " + " ".join(f"{p:>13s}" for p in PARTS) + "   other")
    base = statistics.median(totals["fp32"]) if "fp32" in names else None
    for n in names:
        total = statistics.median(totals[n])
        med = {p: statistics.median(parts[n][p]) for p in PARTS}
        other = total - sum(med.values())
        out[n] = {
            "total_s": round(total, 3),
            **{p: round(v, 3) for p, v in med.items()},
            "other": round(other, 3),
        }
        print(
            f"  {n:8s} {total:7.2f} "
            + " ".join(f"{med[p]:13.2f}" for p in PARTS)
            + f" {other:7.2f}"
            + (f"   ({total / base:.2f}x the fp32 time)" if base else "")
        )
    print(f"  fast UNet vs fp32 UNet: relative error {parity:.4f} (bf16 weights)")
    if "fast" in out:
        print(
            f"  target: fast <= 3.5 s per picture -> {'met' if out['fast']['total_s'] <= 3.5 else 'NOT met'}"
        )
    out["unet_relative_error"] = round(parity, 5)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
