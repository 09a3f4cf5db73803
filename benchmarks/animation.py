"""Animation overhead: per-frame time of a Deforum 2D render against the same number of plain img2img
Engine.run calls (each on the previous output, same size, steps and denoising), alternated in one run.

Target: ratio <= 1.10. Usage: python benchmarks/animation.py [--quick] [--frames N] [--rounds N]
  tiny demo model at 256x256, then (without --quick) a full-size SD 1.5-architecture UNet at 512x512.
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


def measure(label: str, model: str, size: int, steps: int, frames: int, rounds: int) -> float:
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

    inside: list[float] = []  # seconds the animation spent inside Engine.run, per run

    class Timed:
        """The engine, timing its run calls: the rest of an animation's time is its own overhead."""

        def run(self, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return engine.run(*args, **kwargs)
            finally:
                inside[-1] += time.perf_counter() - t0

    def animation(i: int) -> None:
        inside.append(0.0)
        Animator(Timed(), settings, tmp / f"anim-{i}").render()

    def plain(i: int) -> None:
        picture = InputImage.from_file(init)
        for f in range(frames):
            request = Request(
                prompt="a lighthouse at dusk",
                negative_prompt="blurry",
                mode=Mode.img2img,
                init_image=picture,
                strength=0.35,
                steps=steps,
                width=size,
                height=size,
                seed=1 + f,
                model=model,
            )
            picture = InputImage.from_pil(engine.run(request).images[0].image)

    t_plain, t_anim = [], []
    for i in range(rounds):
        order = (
            ((plain, t_plain), (animation, t_anim)) if i % 2 == 0 else ((animation, t_anim), (plain, t_plain))
        )
        for fn, acc in order:
            t0 = time.perf_counter()
            fn(i)
            acc.append((time.perf_counter() - t0) / frames)
    ratio = statistics.median(t_anim) / statistics.median(t_plain)
    own = statistics.median(t * frames / e for t, e in zip(t_anim, inside, strict=True))
    print(
        f"{label}: plain img2img {statistics.median(t_plain):.3f}s/frame, animation "
        f"{statistics.median(t_anim):.3f}s/frame (median of {rounds}), ratio {ratio:.3f} (target <= 1.10); "
        f"animation time / its Engine.run time {own:.3f} (load-independent)"
    )
    engine.close()
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny model only")
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    measure("tiny SD1 256x256, 9 steps (3 per frame)", "demo", 256, 9, args.frames, args.rounds)
    if not args.quick:
        from benchmarks.engine_overhead import full_size_sd15

        with tempfile.TemporaryDirectory() as tmp:
            model = full_size_sd15(Path(tmp))
            measure("SD 1.5 UNet (random) 512x512, 6 steps", str(model), 512, 6, 3, 2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
