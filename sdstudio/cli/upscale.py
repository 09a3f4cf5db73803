"""`sdstudio upscale IN -o OUT`: A1111's Extras upscale from the command line, tile progress on stderr."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from sdstudio.cli import CliError
from sdstudio.core.request import RequestError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upscale", help="upscale a picture (Lanczos, Nearest or an upscaler model)")
    p.add_argument("image", type=Path, metavar="IMAGE")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.png")
    p.add_argument(
        "--upscaler", default="Lanczos", metavar="NAME", help="see `sdstudio models` (default Lanczos)"
    )
    p.add_argument("--scale", type=float, default=2.0, metavar="F", help="upscale by (default 2)")
    p.add_argument("--size", metavar="WxH", help="or upscale to this size, centre-cropped")
    p.add_argument("--tile", type=int, default=256, metavar="PX", help="model tile size (default 256)")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> object:
    from sdstudio.core.upscale.extras import ExtrasUpscale

    if args.size is None:
        return ExtrasUpscale(upscaler_1=args.upscaler, upscaling_resize=args.scale)
    parts = args.size.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise CliError(f"--size {args.size!r} is not WIDTHxHEIGHT, e.g. 2048x2048")
    w, h = int(parts[0]), int(parts[1])
    return ExtrasUpscale(upscaler_1=args.upscaler, resize_mode=1, upscaling_resize_w=w, upscaling_resize_h=h)


def run(args: argparse.Namespace) -> int:
    from PIL import Image, PngImagePlugin

    from sdstudio.core.engine import pick_device
    from sdstudio.core.errors import EngineError
    from sdstudio.core.request import InputImage
    from sdstudio.core.root import load_settings, open_library
    from sdstudio.core.upscale.extras import extras_upscale

    settings = _settings(args)
    try:
        picture = InputImage.from_file(args.image, "image").to_pil()
        with Image.open(args.image) as original:
            parameters = original.info.get("parameters")

        def bar(done: int, total: int) -> None:
            sys.stderr.write(f"\rtile {done}/{total}" + ("\n" if done == total else ""))
            sys.stderr.flush()

        out = extras_upscale(
            picture, settings, open_library(load_settings()), args.device or pick_device(), on_tile=bar
        )
    except (RequestError, EngineError) as e:
        raise CliError(str(e)) from None
    info = PngImagePlugin.PngInfo()
    extra = (
        f"Postprocess upscale by: {args.scale:g}, "
        if args.size is None
        else f"Postprocess upscale to: {args.size}, "
    )
    note = f"{extra}Postprocess upscaler: {args.upscaler}"
    info.add_text(
        "parameters", f"{parameters}, {note}" if isinstance(parameters, str) and parameters else note
    )
    buf = io.BytesIO()
    out.save(buf, format="PNG", pnginfo=info)
    target = args.output if args.output.suffix.lower() == ".png" else args.output.with_suffix(".png")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(buf.getvalue())
        partial.replace(target)  # atomic: no half-written file on failure
    except OSError as e:
        raise CliError(f"cannot write {target}: {e.strerror or e}") from None
    print(f"{target}  {out.width}x{out.height}")
    return 0
