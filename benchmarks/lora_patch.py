"""LoRA patch / restore cost on the full-size SD 1.5 UNet (random weights, built from resources/model-configs).

One rank-32 LoRA on every attention layer kohya trains by default (to_q/k/v/out, ff, proj_in/out: 192 layers).
Target: apply <= 150 ms on CPU; restore is a pointer swap (~0 ms, bit-exact); re-applying the same set costs
nothing and a change of strength recomputes every layer once. The same run times the bare arithmetic (one
torch.addmm per layer into preallocated buffers): apply / bare is sdstudio's overhead, whatever the machine's load.
Usage: python benchmarks/lora_patch.py [--device cuda] [--dtype float16] [--rank 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, help="float32 (CPU default) or float16 (CUDA default)")
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import torch
    from diffusers import UNet2DConditionModel

    from sdstudio.core.lora import LoraFile, LoraPatcher, LoraUse
    from sdstudio.core.paths import resources_dir

    dtype = getattr(torch, args.dtype or ("float16" if args.device.startswith("cuda") else "float32"))
    # 1. the SD 1.5 UNet with random weights, on the device
    t0 = time.perf_counter()
    config = json.loads((resources_dir() / "model-configs" / "sd1" / "unet" / "config.json").read_text())
    with torch.no_grad():
        unet = UNet2DConditionModel.from_config(config).to(args.device, dtype).eval()
    print(
        f"UNet built in {time.perf_counter() - t0:.1f} s ({sum(p.numel() for p in unet.parameters()) / 1e6:.0f} M)"
    )
    # 2. a rank-32 kohya LoRA for every attention-block layer (Linear or 1x1 conv)
    g = torch.Generator().manual_seed(0)
    groups = {}
    for name in _names(unet):
        weight = unet.get_submodule(name).weight
        groups["lora_unet_" + name.replace(".", "_")] = {
            "up": torch.randn(weight.shape[0], args.rank, generator=g) * 0.01,
            "down": torch.randn(args.rank, weight[0].numel(), generator=g) * 0.01,
            "alpha": torch.tensor(float(args.rank // 2)),
        }
    lora = LoraFile(Path("bench.safetensors"), groups)
    pipe = SimpleNamespace(unet=unet)
    patcher = LoraPatcher()
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    # 3. apply, re-apply unchanged, change strength, restore
    applies, restores, switches, same = [], [], [], []
    patcher.apply(pipe, [LoraUse(lora, 0.5, 0.5, "warm")])
    patcher.restore()
    for _ in range(args.repeat):
        _sync(args.device)
        t = time.perf_counter()
        patcher.apply(pipe, [LoraUse(lora, 0.8, 0.8, "a")])
        _sync(args.device)
        applies.append(time.perf_counter() - t)
        t = time.perf_counter()
        patcher.apply(pipe, [LoraUse(lora, 0.8, 0.8, "a")])
        same.append(time.perf_counter() - t)
        t = time.perf_counter()
        patcher.apply(pipe, [LoraUse(lora, 0.6, 0.6, "a")])
        _sync(args.device)
        switches.append(time.perf_counter() - t)
        t = time.perf_counter()
        patcher.restore()
        _sync(args.device)
        restores.append(time.perf_counter() - t)
    exact = all(torch.equal(before[k], v) for k, v in unet.state_dict().items())
    # 4. the bare arithmetic: W + s·up@down for every layer, nothing else
    weights = [unet.get_submodule(n).weight.data for n in _names(unet)]
    factors = [(groups["lora_unet_" + n.replace(".", "_")]) for n in _names(unet)]
    factors = [
        (f["up"].to(args.device, torch.float32), f["down"].to(args.device, torch.float32)) for f in factors
    ]
    buffers = [torch.empty(w.shape[0], w[0].numel(), device=args.device) for w in weights]
    bare = []
    with torch.no_grad():
        for _ in range(args.repeat):
            _sync(args.device)
            t = time.perf_counter()
            for w, (up, down), out in zip(weights, factors, buffers, strict=True):
                torch.addmm(w.reshape(w.shape[0], -1).float(), up, down, alpha=0.4, out=out)
            _sync(args.device)
            bare.append(time.perf_counter() - t)
    flops = sum(2 * w.numel() * args.rank for w in weights)

    def ms(xs: list[float]) -> str:
        return f"{statistics.median(xs) * 1e3:.1f} ms"

    device = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(f"device {device}, {str(dtype).replace('torch.', '')}, rank {args.rank}, {len(groups)} layers")
    print(f"apply: {ms(applies)} (target <= 150 ms; ratio {statistics.median(applies) * 1e3 / 150:.2f})")
    print(f"same set again: {ms(same)}; change of strength: {ms(switches)}; restore: {ms(restores)}")
    print(
        f"bare arithmetic: {ms(bare)} ({flops / statistics.median(bare) / 1e9:.1f} GFLOP/s); "
        f"apply / bare = {statistics.median(applies) / statistics.median(bare):.2f}"
    )
    print(f"bit-exact after restore: {exact}")


def _names(unet: object) -> list[str]:
    import torch

    return [
        n
        for n, m in unet.named_modules()  # type: ignore[attr-defined]
        if ".attentions." in n and isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
    ]


if __name__ == "__main__":
    main()
