"""`sdstudio generate PROMPT ... -o OUT.png`: headless generation with a terminal progress bar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.cli import CliError, iterate
from sdstudio.cli.bars import ProgressBar
from sdstudio.core.request import (
    InpaintArea,
    InputImage,
    Mode,
    Request,
    RequestError,
    Result,
    size_for_picture,
)
from sdstudio.core.samplers import DEFAULT_SAMPLER
from sdstudio.core.speed import SPEEDS

if TYPE_CHECKING:
    from sdstudio.core.control import ControlUnit
    from sdstudio.core.engine import Engine
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.settings import Settings
    from sdstudio.core.xyz import GridSpec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate images headless and write PNG files")
    p.add_argument("prompt", metavar="PROMPT", nargs="?", help="the prompt (optional with --from)")
    p.add_argument("--negative", default="", metavar="TEXT", help="negative prompt")
    p.add_argument(
        "--model", default="", metavar="ID_OR_PATH", help="model name, hash, folder, file or hub id"
    )
    p.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="sampling steps (default 20, or what a few-step model is made for)",
    )
    p.add_argument(
        "--cfg", type=float, metavar="F", help="CFG scale (default 7, or what a few-step model is made for)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=-1,
        metavar="N",
        help="seed; -1 (the default) picks one, printed and recorded",
    )
    p.add_argument(
        "--sampler",
        metavar="NAME",
        help=f"A1111 sampler name (default {DEFAULT_SAMPLER}, or what a few-step model is made for)",
    )
    p.add_argument(
        "--width", type=int, metavar="W", help="a multiple of 8 (default 512, or the --init picture's)"
    )
    p.add_argument(
        "--height", type=int, metavar="H", help="a multiple of 8 (default 512, or the --init picture's)"
    )
    p.add_argument("--init", type=Path, metavar="IMAGE", help="init image (img2img; inpaint with --mask)")
    p.add_argument("--mask", type=Path, metavar="IMAGE", help="inpainting mask, white = repaint")
    p.add_argument(
        "--strength", type=float, default=0.75, metavar="F", help="denoising strength, 0-1 (default 0.75)"
    )
    p.add_argument(
        "--batch",
        type=int,
        default=1,
        metavar="N",
        help="images to make: OUT.png, OUT-1.png, ... (default 1)",
    )
    p.add_argument("--mask-blur", type=int, default=4, metavar="PX", help="mask edge blur (default 4)")
    p.add_argument(
        "--only-masked", action="store_true", help="inpaint only the masked area at full resolution"
    )
    p.add_argument(
        "--padding",
        type=int,
        default=32,
        metavar="PX",
        help="padding around the mask with --only-masked (default 32)",
    )
    p.add_argument("--clip-skip", type=int, default=1, metavar="N", help="skip the last N-1 CLIP layers")
    p.add_argument(
        "--style",
        action="append",
        default=[],
        metavar="NAME",
        help="apply a style or negative preset such as 'hands' (repeatable)",
    )
    iterate.add_arguments(p)
    iterate.add_plot_arguments(p)
    iterate.add_outpaint_arguments(p)
    p.add_argument(
        "--vae",
        default="",
        metavar="NAME",
        help="VAE file from models/VAE (A1111 name, e.g. vae-ft-mse-840000-ema-pruned.safetensors), "
        "Automatic or None (default: the one remembered for the model, else Automatic)",
    )
    p.add_argument(
        "--ref",
        action="append",
        default=[],
        metavar="PATH[:WEIGHT[:KIND]]",
        help="a reference picture steering the picture (repeatable); KIND: reference (default), style or "
        "composition (an IP-Adapter and its CLIP image encoder from the library), canny, lineart or scribble "
        "(a ControlNet named like it in models/ControlNet); {image} in the prompt refers to the first",
    )
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.add_argument(
        "--from",
        dest="from_picture",
        type=Path,
        metavar="PICTURE.png",
        help="take every parameter from a picture (sdstudio, A1111, ComfyUI, ...); flags given override one each",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="with --from: compare the result with the picture's pixels (exit 1 when they differ)",
    )
    p.add_argument(
        "--speed",
        choices=SPEEDS,
        default="standard",
        help="fast: compiled UNet with CUDA graphs and fused attention on CUDA (the first run of a size "
        "compiles, about a minute, then cached on disk), bf16 UNet on CPUs with bf16 (default standard)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.png")
    p.set_defaults(func=run)


def build_request(args: argparse.Namespace, settings: Settings) -> Request:
    """The request the flags describe (`settings`: the default model, the network policy for --ref URLs)."""
    return iterate.outpainted(args, _build_request(args, settings))


def _build_request(args: argparse.Namespace, settings: Settings) -> Request:
    if args.mask is not None and args.init is None:
        raise RequestError("mask", "--mask needs --init (the picture to inpaint)")
    if args.style:
        from sdstudio.core.prompt import apply_styles

        apply_styles(args.prompt, args.negative, args.style)  # unknown names: RequestError listing known ones
    mode = Mode.inpaint if args.mask is not None else Mode.img2img if args.init is not None else Mode.txt2img
    init = InputImage.from_file(args.init, "init") if args.init is not None else None
    mask = InputImage.from_file(args.mask, "mask") if args.mask is not None else None
    width, height = args.width, args.height
    if init is not None:  # a missing side follows the picture's aspect, not a squashed square
        if width is None and height is None:
            width, height = size_for_picture(init.width, init.height)
        elif width is None:
            width = max(64, round(height * init.width / init.height / 8) * 8)
        elif height is None:
            height = max(64, round(width * init.height / init.width / 8) * 8)
    width, height = width or 512, height or 512
    steps, cfg_scale, sampler = sampling(args, settings)
    return Request(
        prompt=args.prompt,
        negative_prompt=args.negative,
        mode=mode,
        steps=steps,
        cfg_scale=cfg_scale,
        width=width,
        height=height,
        seed=args.seed,
        batch_size=args.batch,
        sampler=sampler,
        strength=args.strength,
        init_image=init,
        mask=mask,
        mask_blur=args.mask_blur,
        inpaint_area=InpaintArea.only_masked if args.only_masked else InpaintArea.whole,
        inpaint_padding=args.padding,
        clip_skip=args.clip_skip,
        model=args.model,
        styles=tuple(args.style),
        **iterate.request_changes(args),
        speed=args.speed,
        vae=args.vae,
        controls=_references(args.ref, settings),
    ).validate()


def sampling(args: argparse.Namespace, settings: Settings) -> tuple[int, float, str]:
    """Steps, CFG and sampler: the flags given; the rest from the few-step profile of the model (or of a LoRA
    the prompt names: LCM, Turbo, Lightning, Hyper-SD), announced in one line, else the usual defaults."""
    from sdstudio.core.lora.tags import parse_tags
    from sdstudio.core.speed.fewstep import DEFAULTS, few_step_profile

    model = args.model or settings.default_model
    loras = [t.name for t in parse_tags(args.prompt or "")]
    profile = few_step_profile(model, loras=loras)
    chosen = {"steps": args.steps, "cfg_scale": args.cfg, "sampler": args.sampler}
    defaults = DEFAULTS if profile is None else {
        "steps": profile.steps, "cfg_scale": profile.cfg_scale, "sampler": profile.sampler,
    }  # fmt: skip
    taken = {k: defaults[k] for k, v in chosen.items() if v is None}
    if profile is not None and taken:
        print(
            f"{model or ', '.join(loras)}: a few-step model, {profile.describe()} (what it is made for; "
            "--steps, --cfg and --sampler override)",
            file=sys.stderr,
        )
    values = chosen | taken
    return int(values["steps"]), float(values["cfg_scale"]), str(values["sampler"])


def _references(specs: list[str], settings: Settings) -> tuple[ControlUnit, ...]:
    """The --ref pictures as ControlNet / IP-Adapter units (read now: a missing file is one clear error)."""
    from sdstudio.core.control import unit_from_ref
    from sdstudio.core.control.fetch import FetchPolicy, is_url

    network = FetchPolicy.from_settings(settings) if any(is_url(s) for s in specs) else None
    return tuple(unit_from_ref(spec, network=network) for spec in specs)


def output_paths(out: Path, count: int) -> list[Path]:
    """OUT.png, then OUT-1.png, OUT-2.png... for a batch."""
    if out.suffix.lower() != ".png":
        out = out.with_suffix(out.suffix + ".png") if out.suffix else out.with_suffix(".png")
    return [out] + [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, count)]


def run(args: argparse.Namespace) -> int:
    if args.from_picture is not None:
        from sdstudio.cli.replay import generate_from

        return generate_from(args)
    if args.verify:
        raise CliError("--verify needs --from PICTURE.png (the picture to compare with)")
    if args.prompt is None:
        raise CliError("PROMPT is required (or take every parameter from a picture with --from)")
    from sdstudio.core.root import load_settings, open_library

    library = open_library(load_settings())  # the settings, read once by the composition root
    try:
        request = build_request(args, library.settings)
        plot = iterate.plot_spec(args, request)
    except RequestError as e:
        raise CliError(str(e)) from None
    if plot is not None:
        execute_plot(plot, args, library)
    else:
        execute(request, args, library)
    return 0


def _outputs_and_engine(
    args: argparse.Namespace, count: int, library: ModelLibrary
) -> tuple[list[Path], Engine]:
    """The `count` output paths (their folder made) and the engine from the composition root."""
    from sdstudio.core.root import engine_for

    paths = output_paths(args.output, count)
    try:
        paths[0].parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create output folder {paths[0].parent}: {e.strerror}") from None
    return paths, engine_for(library, args.device)


def execute_plot(plot: GridSpec, args: argparse.Namespace, library: ModelLibrary) -> None:
    """An X/Y/Z plot or prompt matrix: OUT.png the grid, OUT-1.png ... its cells."""
    from sdstudio.core.errors import EngineError

    paths, engine = _outputs_and_engine(args, plot.count + 1, library)
    try:
        iterate.run_plot(plot, args, paths, engine, ProgressBar())
    except (EngineError, RequestError) as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(f"cannot write the grid: {e.strerror or e}") from None


def execute(request: Request, args: argparse.Namespace, library: ModelLibrary) -> Result:
    """Run the request, write OUT.png (OUT-1.png, ...) and keep its inputs for replay; one line per picture."""
    from sdstudio.core.errors import EngineError
    from sdstudio.core.gallery.metadata import write_png
    from sdstudio.core.gallery.store import keep_inputs

    paths, engine = _outputs_and_engine(args, request.images_total, library)
    try:
        result = engine.run(request, on_step=ProgressBar())
    except (EngineError, RequestError) as e:
        raise CliError(str(e)) from None
    keep_inputs(engine.library.settings.outputs_path(), request)
    for gen, path in zip(result.images, paths, strict=True):
        try:
            write_png(path, gen, result)  # atomic: a failed write leaves no partial file
        except OSError as e:
            raise CliError(f"cannot write {path}: {e.strerror or e}") from None
        print(f"{path}  seed {gen.seed}")
    return result
