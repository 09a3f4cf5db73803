"""GPU speed: plain diffusers vs Engine.run vs the window's path (Engine with per-step previews) vs the fast path.

Random-weight SD 1.5 and SDXL architectures from the bundled configs, fp16 on CUDA, 20 steps DPM++ 2M Karras,
end to end (text encoding and VAE decode included), the variants alternated in one run; prints it/s and ratios.
  "fast" is the window's path with speed "fast" (compiled UNet and VAE decoder, CUDA graphs, fused QKV,
  channels_last); its first call (the compile, or the load from the disk cache) is reported apart.
Targets (NVIDIA H200): SD 1.5 512² fast >= 110 it/s; SDXL 1024² fast >= 22 it/s; the preview tax (window vs
engine) <= 2 % on SDXL; a second start of the same model and size (a new process, warm cache) <= 15 s first call.

Usage:
  python benchmarks/gpu_speed.py                       # sd15 and sdxl, every variant (CUDA)
  python benchmarks/gpu_speed.py --models sd15 --only fast --rounds 1   # e.g. the second-start check
  python benchmarks/gpu_speed.py --smoke               # the same code on the CPU, tiny models, about a minute
Options: --steps N --rounds N --size PX --compile-mode MODE --json PATH. With no CUDA device it runs --smoke.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _builders  # noqa: E402

VARIANTS = ("plain", "engine", "window", "fast")
SIZES = {"sd15": 512, "sdxl": 1024, "sd21": 512}
PROMPT = "a lighthouse at dusk, stormy sea, dramatic light, highly detailed"
NEGATIVE = "blurry, lowres"
SAMPLER = "DPM++ 2M Karras"


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _pixels(image: Any) -> Any:
    import numpy as np

    return np.asarray(image.convert("RGB"), dtype=np.int16)


def bench_model(
    arch: str, args: argparse.Namespace, device: str, dtype: str, save: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Every chosen variant on one architecture: first calls, then alternated timed rounds (save: partial results)."""
    import torch

    from sdstudio.core.engine import Engine
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.request import Request
    from sdstudio.core.samplers import SAMPLERS
    from sdstudio.core.settings import Settings
    from sdstudio.core.speed.extension import use_fast_options
    from sdstudio.core.speed.fast import FastOptions

    variants = [v for v in VARIANTS if v in args.only]
    size = args.size or (64 if args.smoke else SIZES[arch.removeprefix("tiny-")])
    # 1. the models: one for the standard paths, a copy for the fast path (it changes its model in place)
    t0 = time.perf_counter()
    pipe = _builders.build(arch, device, getattr(torch, dtype))
    fast_pipe = copy.deepcopy(pipe) if "fast" in variants else None
    _sync(device)
    built = time.perf_counter() - t0
    fast_options = FastOptions(
        compile=True, mode=args.compile_mode, backend=args.backend, compile_vae=not args.no_compile_vae
    )
    report: dict[str, Any] = {"size": size, "steps": args.steps, "build_s": round(built, 2), "variants": {}}
    with _builders.serve_pipelines({"std": pipe, "fast": fast_pipe}, tag=f"{arch}-") as refs:
        library = ModelLibrary(Settings.load())
        engine = Engine(library, device=device, dtype=dtype)
        fast_engine = Engine(library, device=device, dtype=dtype)
        use_fast_options(fast_engine, fast_options)
        req = Request(
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            steps=args.steps,
            width=size,
            height=size,
            seed=1,
            sampler=SAMPLER,
            model=refs["std"],
        )
        scheduler = SAMPLERS[SAMPLER].build(dict(pipe.scheduler.config))
        messages: list[str] = []
        previews: list[tuple[int, int]] = []  # the size of each preview the window's callback received

        def window(
            p: Any,
        ) -> None:  # what the worker does with each step: convert the preview when there is one
            if p.message:
                messages.append(p.message)
            if p.preview is not None:
                p.preview.tobytes()
                previews.append(p.preview.size)

        def plain() -> Any:
            pipe.scheduler = scheduler
            with torch.inference_mode():
                return pipe(
                    PROMPT,
                    negative_prompt=NEGATIVE,
                    num_inference_steps=args.steps,
                    guidance_scale=req.cfg_scale,
                    width=size,
                    height=size,
                    generator=[torch.Generator("cpu").manual_seed(1)],
                ).images[0]

        calls: dict[str, Callable[[], Any]] = {
            "plain": plain,
            "engine": lambda: engine.run(req).images[0].image,
            "window": lambda: engine.run(req, on_step=window).images[0].image,
            "fast": lambda: (
                fast_engine.run(req.replace(model=refs["fast"], speed="fast"), on_step=window).images[0].image
            ),
        }
        # 2. first calls (loading), then rounds alternated, the order rotated each round; the fast path's first
        #    call (its compile) comes after the standard variants' rounds, so a compile that runs out of time
        #    leaves them measured; then rounds of every variant. Results are saved after each stage.
        pictures: dict[str, Any] = {}
        times: dict[str, list[float]] = {v: [] for v in variants}
        first: dict[str, float] = {}
        peak: dict[str, float] = {}
        ready: list[str] = []

        def first_call(v: str) -> None:
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            try:
                pictures[v] = calls[v]()
            except Exception as e:  # a variant that cannot run (e.g. no compiler) leaves the others measured
                import traceback

                traceback.print_exc()
                report.setdefault("errors", {})[v] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                print(f"  {arch} {v}: FAILED {report['errors'][v]}", flush=True)
                return
            _sync(device)
            first[v] = time.perf_counter() - t0
            if device.startswith("cuda"):
                peak[v] = torch.cuda.max_memory_allocated() / 2**30
            ready.append(v)
            print(f"  {arch} {v}: first call {first[v]:.2f}s", flush=True)

        def rounds() -> None:
            for r in range(args.rounds):
                for v in ready[r % len(ready) :] + ready[: r % len(ready)]:
                    t0 = time.perf_counter()
                    calls[v]()
                    _sync(device)
                    times[v].append(time.perf_counter() - t0)

        def summarise() -> None:
            if not ready:
                return
            base_v = "plain" if "plain" in ready else ready[0]
            base = statistics.median(times[base_v]) if times[base_v] else None
            ref = _pixels(pictures[base_v])
            for v in ready:
                med = statistics.median(times[v]) if times[v] else None
                diff = abs(_pixels(pictures[v]) - ref)
                report["variants"][v] = {
                    "first_call_s": round(first[v], 3),
                    "median_s": round(med, 4) if med else None,
                    "times_s": [round(t, 4) for t in times[v]],
                    "it_per_s": round(args.steps / med, 2) if med else None,
                    f"time_vs_{base_v}": round(med / base, 3) if med and base else None,
                    f"paired_vs_{base_v}": _paired(times[v], times[base_v]),
                    f"max_abs_diff_vs_{base_v}": int(diff.max()),
                    f"mean_abs_diff_vs_{base_v}": round(float(diff.mean()), 3),
                    "peak_gib": round(peak[v], 2) if v in peak else None,
                }
            report["compile_messages"] = list(messages)
            report["previews_received"] = len(previews)
            report["preview_size"] = list(previews[-1]) if previews else None
            plan = engine._loaded.extras.get("memory_plan") if engine._loaded is not None else None
            report["memory_plan"] = plan.reason if plan is not None else None
            save(report)

        standard = [v for v in variants if v != "fast"]
        for v in standard:
            first_call(v)
        rounds()
        summarise()
        if "fast" in variants:
            first_call("fast")
            summarise()
            if "fast" in ready:
                rounds()
                summarise()
        for e in (engine, fast_engine):
            e.close()
    return report


def _paired(times: list[float], base: list[float]) -> float | None:
    """The median of the per-round ratios (each round runs every variant back to back, so slow drifts of the
    machine cancel out of each ratio); None with no complete round."""
    ratios = [t / b for t, b in zip(times, base, strict=False) if b]
    return round(statistics.median(ratios), 4) if ratios else None


def print_report(arch: str, report: dict[str, Any]) -> None:
    size, steps = report["size"], report["steps"]
    print(f"{arch} {size}x{size}, {steps} steps {SAMPLER}, end to end:")
    for v, r in report["variants"].items():
        ratio = next((val for k, val in r.items() if k.startswith("time_vs_")), None)
        its = f"{r['it_per_s']:.2f} it/s" if r["it_per_s"] else "-"
        print(
            f"  {v:7s} {its:>12s}  time ratio {ratio if ratio is not None else '-'}  first call "
            f"{r['first_call_s']:.2f}s  max|diff| {next(val for k, val in r.items() if k.startswith('max_abs'))}"
        )
    if "engine" in report["variants"] and "window" in report["variants"]:
        e, w = report["variants"]["engine"]["median_s"], report["variants"]["window"]["median_s"]
        if e and w:
            print(
                f"  preview tax (window vs engine, medians): {100 * (w / e - 1):+.1f} % (target <= 2 % on SDXL)"
            )
        tw, te = report["variants"]["window"]["times_s"], report["variants"]["engine"]["times_s"]
        if (paired := _paired(tw, te)) is not None:
            print(
                f"  preview tax (median of per-round ratios, {min(len(tw), len(te))} rounds): {100 * (paired - 1):+.1f} %"
            )
    if report.get("previews_received"):
        calls = sum(len(r["times_s"]) + 1 for k, r in report["variants"].items() if k in ("window", "fast"))
        print(
            f"  previews received: {report['previews_received']} in {calls} window/fast calls, "
            f"{report['preview_size']} px"
        )
    for message in dict.fromkeys(report.get("compile_messages", [])):
        print(f"  compile message: {message}")
    fast = report["variants"].get("fast")
    if fast and any("loading the compiled" in m for m in report.get("compile_messages", [])):
        print(
            f"  second start (warm disk cache): first fast call {fast['first_call_s']:.1f}s (target <= 15 s)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny models, tiny sizes (checks the code)")
    parser.add_argument("--models", default="sd15,sdxl", help="comma list of sd15, sdxl, sd21")
    parser.add_argument("--only", default=",".join(VARIANTS), help="comma list of " + ", ".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--compile-mode", default="reduce-overhead")
    parser.add_argument(
        "--backend", default=None, help="torch.compile backend (default inductor; smoke: eager)"
    )
    parser.add_argument("--no-compile-vae", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    args = parser.parse_args()
    args.only = [v.strip() for v in args.only.split(",") if v.strip()]
    if bad := [v for v in args.only if v not in VARIANTS]:
        parser.error(f"unknown variant {', '.join(bad)}; use {', '.join(VARIANTS)}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if bad := [m for m in models if m not in SIZES]:
        parser.error(f"unknown model {', '.join(bad)}; use {', '.join(SIZES)}")

    _builders.ensure_home()
    import torch

    if not args.smoke and not torch.cuda.is_available():
        print("no CUDA device: running --smoke (the same code on the CPU, tiny models)")
        args.smoke = True
    device, dtype = ("cpu", "float32") if args.smoke else ("cuda", "float16")
    args.steps = args.steps or (4 if args.smoke else 20)
    args.rounds = args.rounds if args.rounds is not None else (2 if args.smoke else 5)
    args.backend = args.backend or ("eager" if args.smoke else "inductor")
    out: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "smoke": args.smoke,
        "dtype": dtype,
        "compile_mode": args.compile_mode,
        "backend": args.backend,
        "models": {},
    }
    try:
        import diffusers

        out["diffusers"] = diffusers.__version__
    except ImportError:
        pass
    print(f"device: {out['device']}, torch {out['torch']}, {dtype}", flush=True)
    for model in models:
        arch = f"tiny-{model}" if args.smoke else model

        def save(report: dict[str, Any], model: str = model) -> None:
            out["models"][model] = report
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")

        report = bench_model(arch, args, device, dtype, save)
        save(report)
        print_report(arch, report)
        if device == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
