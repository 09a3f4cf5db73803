"""Gallery at scale: 100,000 synthetic records; search, a page of 200 rows, and a rescan of 10,000 files.

Targets: search < 50 ms, page of 200 < 20 ms. Usage: python benchmarks/gallery_scale.py [--records N] [--files N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = (
    "cat dog fox castle forest river neon city portrait knight dragon sunset ocean robot garden winter "
    "summer cyberpunk watercolor oil painting photo cinematic lighting bokeh detailed hands face armor"
).split()


def timed(fn, repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=10_000)
    args = ap.parse_args()
    from PIL import Image

    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.gallery.metadata import png_bytes
    from sdstudio.core.request import GeneratedImage, Request, Result

    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        store = GalleryStore(Path(tmp) / "out", Path(tmp) / "index.sqlite3")
        t0 = time.perf_counter()
        rows = []
        now = time.time()
        for i in range(args.records):
            prompt = " ".join(rng.choices(WORDS, k=12))
            rows.append(
                {
                    "path": f"/synthetic/{i:06d}.png",
                    "created": now - i,
                    "mtime": now - i,
                    "size": 1000,
                    "prompt": prompt,
                    "negative_prompt": "lowres, bad hands",
                    "model": rng.choice(["sd15", "sdxl", "dreamshaper"]),
                    "mode": rng.choice(["txt2img", "img2img", "inpaint"]),
                    "seed": i,
                    "width": 512,
                    "height": 512,
                    "steps": 20,
                    "sampler": "Euler a",
                    "cfg_scale": 7.0,
                    "starred": int(i % 50 == 0),
                    "source": "sdstudio",
                }
            )
        for k in range(0, len(rows), 10_000):
            store.index.insert_many(rows[k : k + 10_000])
        print(f"indexed {args.records:,} synthetic records in {time.perf_counter() - t0:.1f}s")
        search = timed(lambda: store.search("castle dragon"))
        phrase = timed(lambda: store.search('"oil painting" knight', model="sdxl"))
        page = timed(lambda: store.search(limit=200, offset=50_000))
        first = timed(lambda: store.search(limit=200))
        anchor = store.search(limit=1, offset=49_999)[0]
        keyset = timed(lambda: store.search(limit=200, after=anchor))
        count = timed(lambda: store.count("cat"))
        print(f"search 'castle dragon' (200 rows): {search:.1f} ms (target < 50 ms)")
        print(f"search phrase + model filter: {phrase:.1f} ms (target < 50 ms)")
        print(
            f"page of 200 rows, newest first: {first:.1f} ms; 250th page by keyset (after=): {keyset:.1f} ms; "
            f"same page by OFFSET: {page:.1f} ms (target < 20 ms)"
        )
        print(f"count matching 'cat': {count:.1f} ms")
        store.close()

        # Rescan: real PNG files with our metadata
        root = Path(tmp) / "files"
        store = GalleryStore(root, Path(tmp) / "files.sqlite3")
        img = Image.new("RGB", (64, 64), (30, 60, 90))
        t0 = time.perf_counter()
        for i in range(args.files):
            req = Request(prompt=" ".join(rng.choices(WORDS, k=8)), seed=i, width=64, height=64)
            data = png_bytes(GeneratedImage(img, i, req), Result(req, ()))
            folder = root / f"day{i // 1000:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i:05d}-{i}.png").write_bytes(data)
        print(f"wrote {args.files:,} PNG files in {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        added = store.rescan()
        full = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = store.rescan()
        noop = time.perf_counter() - t0
        print(
            f"rescan of {args.files:,} new files: {full:.2f}s ({added:,} indexed, {full / max(1, added) * 1000:.2f} ms/file)"
        )
        print(f"rescan with nothing changed: {noop * 1000:.0f} ms ({again} indexed)")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
