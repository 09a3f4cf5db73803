"""The steering features once on a CUDA device in half precision, each against the same job on the CPU in
float32: ControlNet (canny with a region mask, "My prompt is more important", two units, in a hires-fix pass),
IP-Adapter (reference and style), a LoRA, a variation seed and an only-masked inpaint, on tiny random-weight
models built here. The CPU tests prove parity with diffusers; this shows that nothing breaks on a GPU (tensors
left on the wrong device, dtypes that do not meet, NaN in fp16) and how far half precision moves the picture.

Usage: python benchmarks/device_features.py [--device cuda] [--dtype float16] [--json PATH]
Exit status 1 when a job fails or gives a non-finite or flat picture on the device.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

W = H = 64


def _reference():  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (80, 60), "white")
    ImageDraw.Draw(image).ellipse((10, 10, 60, 50), outline="black", width=3)
    ImageDraw.Draw(image).rectangle((30, 5, 70, 40), fill=(200, 30, 30))
    return image


def _library_root(root: Path) -> None:
    """An A1111 tree: two tiny ControlNets, a tiny IP-Adapter and its encoder, a tiny LoRA."""
    import torch
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import save_file

    from sdstudio.core import demo
    from tests.core.control_fixtures import tiny_controlnet
    from tests.core.ipadapter_fixtures import save_adapter, tiny_adapter, tiny_encoder

    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    pipe = StableDiffusionPipeline.from_pretrained(str(demo.demo_path()))
    for seed, name in enumerate(("tiny_a_canny", "tiny_b_canny"), 1):
        tiny_controlnet(pipe.unet, seed).save_pretrained(str(root / "models" / "ControlNet" / name))
    save_adapter(tiny_adapter(pipe.unet), root / "models" / "ControlNet" / "ip-adapter_tiny.safetensors")
    tiny_encoder(
        root / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads" / "clip_vision" / "clip_h"
    )
    g = torch.Generator().manual_seed(3)
    tensors = {}
    for name, module in pipe.unet.named_modules():
        if name.endswith(("attn1.to_q", "attn2.to_k", "ff.net.2")):
            key = "lora_unet_" + name.replace(".", "_")
            w = module.weight
            tensors[f"{key}.lora_up.weight"] = torch.randn(w.shape[0], 4, generator=g)
            tensors[f"{key}.lora_down.weight"] = torch.randn(4, w.shape[1], generator=g) * 0.3
            tensors[f"{key}.alpha"] = torch.tensor(2.0)
    (root / "models" / "Lora").mkdir(parents=True)
    save_file(tensors, str(root / "models" / "Lora" / "tiny-ink.safetensors"))


def _jobs():  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw

    from sdstudio.core.control import ControlMode, ControlUnit
    from sdstudio.core.control.ipadapter import IpKind
    from sdstudio.core.request import InpaintArea, InputImage, Mode, Request

    picture = InputImage.from_pil(_reference())
    mask = Image.new("L", (W, H), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 40, 48), fill=255)
    region = InputImage.from_pil(mask)
    init = InputImage.from_pil(_reference().resize((W, H)))
    base = Request(prompt="a red box", negative_prompt="blurry", steps=4, width=W, height=H, seed=7)
    canny = ControlUnit(picture, "canny", "tiny_a_canny", weight=0.9, processor_res=64, mask=region)
    prompt = ControlUnit(
        picture, "canny", "tiny_b_canny", 0.6, control_mode=ControlMode.prompt, processor_res=64
    )
    ip = ControlUnit(picture, "ip-adapter_clip_sd15", "ip-adapter_tiny", weight=0.8)
    return {
        "controlnet: canny with a region mask + prompt more important": base.replace(
            controls=(canny, prompt)
        ),
        "controlnet in the hires pass": base.replace(
            controls=(ControlUnit(picture, "none", "tiny_a_canny"),),
            enable_hr=True,
            hr_scale=1.25,
            hr_second_pass_steps=3,
            strength=0.6,
        ),  # fmt: skip
        "ip-adapter reference": base.replace(controls=(ip,)),
        "ip-adapter style + controlnet": base.replace(
            controls=(dataclasses.replace(ip, ip_kind=IpKind.style), canny)
        ),
        "lora": base.replace(prompt="a red box <lora:tiny-ink:0.8>"),
        "variation seed": base.replace(subseed=99, subseed_strength=0.3),
        "inpaint only masked + controlnet": base.replace(
            mode=Mode.inpaint,
            init_image=init,
            mask=region,
            inpaint_area=InpaintArea.only_masked,
            strength=0.8,
            controls=(ControlUnit(None, "canny", "tiny_a_canny", processor_res=64),),
        ),  # fmt: skip
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="float16")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="sdstudio-features-"))
    os.environ.setdefault("SDSTUDIO_HOME", str(home / "home"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch

    from sdstudio.core.engine import Engine
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.settings import Settings

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device")
        return 2
    root = home / "webui"
    _library_root(root)
    library = ModelLibrary(Settings(model_roots=[str(root)]))
    engines = {
        "cpu": Engine(library, device="cpu"),
        args.device: Engine(library, device=args.device, dtype=args.dtype),
    }
    report: dict[str, dict[str, object]] = {}
    failed = 0
    for name, request in _jobs().items():
        row: dict[str, object] = {}
        pictures = {}
        for where, engine in engines.items():
            t0 = time.perf_counter()
            try:
                pictures[where] = np.asarray(engine.run(request).images[0].image).astype(np.int16)
                row[f"{where}_s"] = round(time.perf_counter() - t0, 2)
            except Exception as e:  # a failure is what this check looks for: report it and go on
                traceback.print_exc()
                row[f"{where}_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:240]}"
        on_device = pictures.get(args.device)
        if on_device is None or on_device.std() < 1.0:
            failed += 1
            row["ok"] = False
        else:
            row["ok"] = True
            if "cpu" in pictures:
                diff = np.abs(on_device - pictures["cpu"])
                row["max_abs_diff_vs_cpu"], row["mean_abs_diff_vs_cpu"] = (
                    int(diff.max()),
                    round(float(diff.mean()), 2),
                )
        report[name] = row
        print(f"{'ok  ' if row['ok'] else 'FAIL'} {name}: {row}", flush=True)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    print(f"{device}, {args.dtype}: {len(report) - failed} of {len(report)} jobs ran on the device")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "dtype": args.dtype, "jobs": report}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
