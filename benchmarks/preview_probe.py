"""Where the window's per-step preview costs on CUDA: device synchronisations counted with torch's sync debug
mode (Engine.run without and with the window's callback), the CPU time of the progress/preview hook per call,
paired per-round time ratios, and a profiler table of one window call.

Usage (CUDA): python benchmarks/preview_probe.py [sd15|sdxl] [SIZE]
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _builders  # noqa: E402


def main() -> int:
    arch = sys.argv[1] if len(sys.argv) > 1 else "sd15"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    _builders.ensure_home()
    import torch

    from sdstudio.core.engine import Engine, builtin
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.request import Request
    from sdstudio.core.settings import Settings

    if not torch.cuda.is_available():
        print("needs a CUDA device")
        return 2
    pipe = _builders.build(arch, "cuda", torch.float16)
    with _builders.serve_pipelines({"std": pipe}, tag=f"{arch}-") as refs:
        engine = Engine(ModelLibrary(Settings.load()), device="cuda", dtype="float16")
        req = Request(
            prompt="a lighthouse", negative_prompt="blurry", steps=20, width=size, height=size, seed=1,
            sampler="DPM++ 2M Karras", model=refs["std"],
        )  # fmt: skip
        # 1. the progress/preview hook's own CPU time, measured around it
        hook_s: list[float] = []
        original = builtin.ReportProgress.post_step

        def timed(self: Any, ctx: Any, step: Any) -> None:
            t0 = time.perf_counter()
            original(self, ctx, step)
            hook_s.append(time.perf_counter() - t0)

        builtin.ReportProgress.post_step = timed  # type: ignore[method-assign]

        def window(p: Any) -> None:  # what the worker does: take the picture when there is one
            if p.preview is not None:
                p.preview.tobytes()

        for _ in range(3):  # warm up both paths
            engine.run(req)
            engine.run(req, on_step=window)
        # 2. synchronising CUDA calls in one call of each (the pipeline's own are in both)
        for mode in ("engine", "window"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode(1)
                engine.run(req, on_step=window if mode == "window" else None)
                torch.cuda.set_sync_debug_mode(0)
            syncs = [w for w in caught if "called a synchronizing CUDA operation" in str(w.message)]
            print(f"{mode}: {len(syncs)} synchronising CUDA calls in one 20-step call")
        # 3. paired rounds
        hook_s.clear()
        times: dict[str, list[float]] = {"engine": [], "window": []}
        for _ in range(10):
            for mode in times:
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                engine.run(req, on_step=window if mode == "window" else None)
                torch.cuda.synchronize()
                times[mode].append(time.perf_counter() - t0)
        print(
            f"progress/preview hook: median {1e3 * statistics.median(hook_s):.3f} ms a step, "
            f"{1e3 * sum(hook_s) / 10:.2f} ms a call"
        )
        ratio = statistics.median(w / e for w, e in zip(times["window"], times["engine"], strict=True))
        print(f"window / engine, median of 10 paired rounds: {ratio:.4f}")
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            engine.run(req, on_step=window)
        print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=15))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
