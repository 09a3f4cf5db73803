"""`generate` options for iterating: variation seeds and hires fix (A1111's names), as Request changes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdstudio.core.request import Request, RequestError

if TYPE_CHECKING:
    from sdstudio.core.xyz import GridSpec


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 512x768")
    return int(parts[0]), int(parts[1])


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("variations (A1111's variation seed)")
    g.add_argument("--subseed", type=int, default=-1, metavar="N", help="variation seed (-1: random)")
    g.add_argument(
        "--subseed-strength",
        type=float,
        default=0.0,
        metavar="F",
        help="how far the noise moves towards the variation seed's, 0-1 (default 0: off)",
    )
    g.add_argument(
        "--seed-resize-from",
        type=_size,
        default=(0, 0),
        metavar="WxH",
        help="draw the seed's noise as for this size (keeps a composition when the size changes)",
    )
    h = p.add_argument_group("hires fix (txt2img)")
    h.add_argument("--hires", action="store_true", help="second pass at a larger size (A1111's hires fix)")
    h.add_argument("--hr-scale", type=float, default=2.0, metavar="F", help="upscale factor (default 2)")
    h.add_argument("--hr-resize", type=_size, default=(0, 0), metavar="WxH", help="or an exact final size")
    h.add_argument(
        "--hr-upscaler",
        default="Latent",
        metavar="NAME",
        help="Latent (and its modes), Lanczos, Nearest or an upscaler model's name (default Latent)",
    )
    h.add_argument("--hr-steps", type=int, default=0, metavar="N", help="second pass steps (0: as --steps)")


def add_outpaint_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("outpainting (extend the --init picture)")
    g.add_argument(
        "--outpaint",
        metavar="L,T,R,B",
        help="pixels to add on the left, top, right and bottom, painted to match (e.g. 0,0,256,0)",
    )
    g.add_argument(
        "--outpaint-fill",
        choices=("fill", "noise"),
        default="fill",
        help="start the new area from the edge colours (fill, default) or from noise",
    )
    g.add_argument(
        "--outpaint-blend", type=int, default=32, metavar="PX", help="original pixels repainted at the seam"
    )


def outpainted(args: argparse.Namespace, request: Request) -> Request:
    """With --outpaint: the inpaint request that paints the extended border of the --init picture."""
    if not getattr(args, "outpaint", None):
        return request
    from sdstudio.core.outpaint import Outpaint, outpaint_request

    if request.init_image is None:
        raise RequestError("outpaint", "--outpaint needs --init (the picture to extend)")
    if request.mask is not None:
        raise RequestError("outpaint", "--outpaint makes its own mask; leave out --mask")
    plan = Outpaint.parse(args.outpaint, fill=args.outpaint_fill, blend=args.outpaint_blend)
    return outpaint_request(request, request.init_image.to_pil(), plan)


def request_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The Request fields these options set; --hr-* without --hires is refused rather than ignored."""
    hires_given = (
        args.hr_scale != 2.0 or args.hr_resize != (0, 0) or args.hr_steps or args.hr_upscaler != "Latent"
    )
    if hires_given and not args.hires:
        raise RequestError("hires", "--hr-scale, --hr-resize, --hr-upscaler and --hr-steps need --hires")
    return {
        "subseed": args.subseed,
        "subseed_strength": args.subseed_strength,
        "seed_resize_from_w": args.seed_resize_from[0],
        "seed_resize_from_h": args.seed_resize_from[1],
        "enable_hr": args.hires,
        "hr_scale": args.hr_scale,
        "hr_resize_x": args.hr_resize[0],
        "hr_resize_y": args.hr_resize[1],
        "hr_upscaler": args.hr_upscaler,
        "hr_second_pass_steps": args.hr_steps,
    }


def add_plot_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("X/Y/Z plot and prompt matrix (a grid picture, every cell saved too)")
    g.add_argument(
        "--xy", nargs=2, metavar=("X", "Y"), help='two axes, e.g. --xy "Steps:10,20" "CFG Scale:3-9 [3]"'
    )
    g.add_argument("--xyz", nargs=3, metavar=("X", "Y", "Z"), help="three axes; one grid per Z value")
    g.add_argument(
        "--prompt-matrix", action="store_true", help="every choice of the prompt's |-separated parts"
    )
    g.add_argument("--no-legend", action="store_true", help="draw the grid without labels")
    g.add_argument("--grid-margin", type=int, default=0, metavar="PX", help="space between cells (default 0)")


def plot_spec(args: argparse.Namespace, request: Request) -> GridSpec | None:
    """The grid the options ask for (None: an ordinary generation)."""
    from sdstudio.core.xyz import NOTHING, Axis, prompt_matrix, xyz_grid

    chosen = [o for o in ("xy", "xyz", "prompt_matrix") if getattr(args, o)]
    if len(chosen) > 1:
        raise RequestError("xyz", "choose one of --xy, --xyz and --prompt-matrix")
    if args.prompt_matrix:
        return prompt_matrix(request)
    specs = args.xy or args.xyz
    if not specs:
        return None
    axes = [Axis.parse(s) for s in specs] + [NOTHING]
    return xyz_grid(request, axes[0], axes[1], axes[2])


def run_plot(spec: GridSpec, args: argparse.Namespace, paths: list[Path], engine: Any, on_step: Any) -> None:
    """Run the grid; OUT.png is the grid picture, OUT-1.png ... the cells in running order."""
    from sdstudio.core.gallery.metadata import write_png
    from sdstudio.core.xyz_run import PlotOutcome, run_grid

    outcome = PlotOutcome(spec, legend=not args.no_legend, margin=max(0, args.grid_margin))
    grid = run_grid(spec, engine, outcome, on_step)
    cells = [outcome.results[p] for p in spec.positions()]
    for (gen, result), path in zip(
        [(grid.images[0], grid)] + [(r.images[0], r) for r in cells], paths, strict=True
    ):
        write_png(path, gen, result)
        print(f"{path}  seed {gen.seed}")
