"""Token counter cost per keystroke, and prompt encoding time against diffusers' encode_prompt.

Target: token count <= 5 ms per keystroke (median) on a ~150-token prompt typed character by character;
encoding a plain prompt within 1.5x of diffusers. Usage: python benchmarks/prompt_tokens.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = (
    "masterpiece, best quality, (a young woman:1.2) standing in a [sunlit:moonlit:0.4] garden, "
    "((detailed face)), long flowing hair, embroidered dress, roses, ivy, stone arch, soft light, "
    "depth of field, 85mm lens, film grain BREAK background: old castle, mountains, mist, birds, "
    "clouds, warm colours, (-bad hands -unnatural hands) <lora:detail:0.6>, intricate, sharp focus, "
    "highly detailed, trending, concept art, smooth, illustration, golden hour, rim light, bokeh"
)


def main() -> None:
    os.environ.setdefault("SDSTUDIO_HOME", tempfile.mkdtemp(prefix="sdstudio-bench-"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sdstudio.core.prompt import count_tokens

    t0 = time.perf_counter()
    count_tokens("warm up")
    print(f"first call (tokenizer load): {time.perf_counter() - t0:.2f} s")
    times = []
    for i in range(1, len(PROMPT) + 1):
        t = time.perf_counter()
        c = count_tokens(PROMPT[:i])
        times.append(time.perf_counter() - t)
    print(
        f"per keystroke over {len(times)} keystrokes: median {statistics.median(times) * 1e3:.2f} ms, "
        f"max {max(times) * 1e3:.2f} ms; final count {c.display}"
    )

    import torch
    from diffusers import StableDiffusionPipeline

    from sdstudio.core import demo
    from sdstudio.core.prompt import build_conditioning

    pipe = StableDiffusionPipeline.from_pretrained(str(demo.demo_path()), safety_checker=None)
    plain = "a cat sitting on a mat, oil painting, warm light"

    def ours() -> None:
        build_conditioning(pipe, plain, "blurry", 20)

    def theirs() -> None:
        with torch.no_grad():
            pipe.encode_prompt(plain, "cpu", 1, True, "blurry")

    for f in (ours, theirs):
        f()
    a, b = [], []
    for _ in range(20):
        for f, acc in ((ours, a), (theirs, b)):
            t = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t)
    ratio = statistics.median(a) / statistics.median(b)
    print(
        f"encode plain prompt (tiny model): ours {statistics.median(a) * 1e3:.2f} ms, "
        f"diffusers {statistics.median(b) * 1e3:.2f} ms, ratio {ratio:.2f}"
    )


if __name__ == "__main__":
    main()
