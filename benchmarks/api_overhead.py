"""HTTP API overhead: txt2img through the live API (queue, gallery save, PNG+base64 response) vs Engine.run.

Target: ratio <= 1.05. Usage: python benchmarks/api_overhead.py [--rounds N] [--size PX] [--steps N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args()
    import httpx

    from sdstudio.api.server import ApiServer
    from sdstudio.core.engine import Engine
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.jobs import JobQueue
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.request import Request
    from sdstudio.core.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(ModelLibrary(Settings.load()), device="cpu")
        store = GalleryStore(Path(tmp) / "out", Path(tmp) / "index.sqlite3")
        queue = JobQueue(engine_factory=lambda: engine, store=store)  # the same engine serves both paths
        thread, stop = queue.start_thread()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = ApiServer(queue, engine.library, port=port)
        server.start()
        body = {
            "prompt": "a lighthouse at dusk",
            "negative_prompt": "blurry",
            "steps": args.steps,
            "width": args.size,
            "height": args.size,
            "seed": 1,
            "sampler_name": "DPM++ 2M",
            "scheduler": "Karras",
            "cfg_scale": 7,
        }
        req = Request(
            prompt=body["prompt"],
            negative_prompt=body["negative_prompt"],
            steps=args.steps,
            width=args.size,
            height=args.size,
            seed=1,
            sampler="DPM++ 2M Karras",
        )
        client = httpx.Client(base_url=server.url, timeout=600)

        def api() -> None:
            r = client.post("/sdapi/v1/txt2img", json=body)
            assert r.status_code == 200 and r.json()["images"]

        def direct() -> None:
            engine.run(req, on_step=lambda p: None)

        api(), direct()  # load and warm up
        t_api, t_direct = [], []
        for i in range(args.rounds):
            order = ((api, t_api), (direct, t_direct)) if i % 2 == 0 else ((direct, t_direct), (api, t_api))
            for fn, acc in order:
                t0 = time.perf_counter()
                fn()
                acc.append(time.perf_counter() - t0)
        a, d = statistics.median(t_api), statistics.median(t_direct)
        print(
            f"txt2img {args.size}x{args.size}, {args.steps} steps, tiny model: API {a:.3f}s, Engine {d:.3f}s "
            f"(median of {args.rounds}), ratio {a / d:.3f} (target <= 1.05)"
        )
        client.close()
        server.stop()
        stop.set()
        thread.join(5)
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
