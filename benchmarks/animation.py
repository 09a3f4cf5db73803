"""Animation overhead: per-frame time of a Deforum 2D render against the same number of plain img2img
Engine.run calls (each on the previous output, same size, steps and denoising), alternated in one run.

Target: ratio <= 1.10. Usage: python benchmarks/animation.py [--quick] [--frames N] [--rounds N]
  tiny demo model at 256x256, then (without --quick) a full-size SD 1.5-architecture UNet at 512x512.

Robust on a busy machine: the two are interleaved frame by frame (each of the animation's Engine.run calls has
one plain img2img call beside it, before or after in turn), so a slow spell of the machine hits both alike;
the figure is the median, over every frame of several rounds, of (the animation's time for that frame without
the plain call) / (the plain call's time), with the rounds' totals beside it.
The animation's time over its own Engine.run calls is printed as a check (its overhead outside the engine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(
    label: str, model: str, size: int, steps: int, frames: int, rounds: int, previews: bool = False
) -> float:
    """The median overhead ratio; `previews`: both sides report every step (the engine makes step previews,
    as in the window), else neither does (as `sdstudio animate` and plain API calls)."""
    import numpy as np
    from PIL import Image

    from sdstudio.core.animation.render import Animator
    from sdstudio.core.animation.settings import AnimationSettings
    from sdstudio.core.engine import Engine
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.request import InputImage, Mode, Request
    from sdstudio.core.settings import Settings

    engine = Engine(ModelLibrary(Settings.load()), device="cpu")
    tmp = Path(tempfile.mkdtemp(prefix="sdstudio-bench-"))
    init = tmp / "init.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(init)
    # every frame img2img'd at denoising 0.35 (Deforum's strength 0.65), cadence 1, LAB coherence, Perlin noise
    settings = AnimationSettings(
        W=size,
        H=size,
        steps=steps,
        max_frames=frames,
        diffusion_cadence=1,
        seed=1,
        use_init=True,
        init_image=str(init),
        strength=0.65,
        prompts={"0": "a lighthouse at dusk --neg blurry"},
        angle="0:(0.5)",
        model=model,
    )
    engine.run(Request(prompt="warm up", steps=1, width=size, height=size, model=model))

    listener = (lambda p: None) if previews else None
    # The plain chain: img2img calls each on the previous output, same size, steps, denoising and sampler.
    chain = {"picture": InputImage.from_file(init), "frame": 0}

    def plain_call() -> float:
        f = chain["frame"]
        request = Request(
            prompt="a lighthouse at dusk",
            negative_prompt="blurry",
            mode=Mode.img2img,
            init_image=chain["picture"],
            strength=0.35,
            steps=steps,
            sampler=settings.sampler,
            width=size,
            height=size,
            seed=1 + f,
            model=model,
        )
        t0 = time.perf_counter()
        picture = engine.run(request, on_step=listener).images[0].image
        spent = time.perf_counter() - t0
        chain["picture"], chain["frame"] = InputImage.from_pil(picture), f + 1
        return spent

    class Paired:
        """The engine the animation renders on: next to each of its calls (before on even frames, after on
        odd ones) one plain img2img call runs and is timed, so both see the same moment of the machine."""

        def __init__(self) -> None:
            self.enters: list[float] = []  # when each of the animation's calls began
            self.plains: list[float] = []  # seconds of the plain call beside each
            self.inside = 0.0  # seconds in the animation's own Engine.run calls

        def run(self, *args: Any, **kwargs: Any) -> Any:
            self.enters.append(time.perf_counter())
            before = len(self.enters) % 2 == 1
            if before:
                self.plains.append(plain_call())
            t0 = time.perf_counter()
            try:
                return engine.run(*args, **kwargs)
            finally:
                self.inside += time.perf_counter() - t0
                if not before:
                    self.plains.append(plain_call())

    # Frame k of the animation: from its call's start to the next one's (the first from the render's start,
    # the last to its end), less the plain call made in that span; its ratio is over that plain call.
    frame_ratios, round_ratios, own, per_plain, per_anim = [], [], [], [], []
    for i in range(rounds):
        paired = Paired()
        start = time.perf_counter()
        Animator(paired, settings, tmp / f"anim-{i}").render(on_progress=listener)
        end = time.perf_counter()
        assert len(paired.plains) == frames, len(paired.plains)
        bounds = [start, *paired.enters[1:], end]
        spans = [b - a - p for a, b, p in zip(bounds[:-1], bounds[1:], paired.plains, strict=True)]
        frame_ratios += [a / p for a, p in zip(spans, paired.plains, strict=True)]
        round_ratios.append(sum(spans) / sum(paired.plains))
        own.append(sum(spans) / paired.inside)
        per_plain.append(sum(paired.plains) / frames)
        per_anim.append(sum(spans) / frames)
    ratio = statistics.median(frame_ratios)
    print(
        f"{label}: plain img2img {statistics.median(per_plain):.3f} s/frame, animation "
        f"{statistics.median(per_anim):.3f} s/frame; {rounds} rounds of {frames} frames, each frame paired "
        f"with a plain call (slowest/fastest round {max(per_plain) / min(per_plain):.2f}x: the machine's noise)\n"
        f"  overhead, median of the {len(frame_ratios)} paired frames: {ratio:.3f} (target <= 1.10); "
        f"median of the rounds: {statistics.median(round_ratios):.3f} "
        f"({', '.join(f'{r:.3f}' for r in round_ratios)}); animation / its own Engine.run time "
        f"{statistics.median(own):.3f}"
    )
    engine.close()
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny model only")
    parser.add_argument("--full-only", action="store_true", help="the full-size SD 1.5 UNet only")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--previews", action="store_true", help="both sides with step reports and previews")
    args = parser.parse_args()
    tiny = "tiny SD1 256x256, 9 steps (3 per frame)" + (", step previews" if args.previews else "")
    if not args.full_only:
        measure(tiny, "demo", 256, 9, args.frames, args.rounds, args.previews)
    if not args.quick:
        from benchmarks.engine_overhead import full_size_sd15

        with tempfile.TemporaryDirectory() as tmp:
            model = full_size_sd15(Path(tmp))
            measure("SD 1.5 UNet (random) 512x512, 6 steps", str(model), 512, 6, 3, 3, args.previews)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
