"""`sdstudio lineage PICTURE.png [--replay]`: a picture's chain of parents, optionally regenerated in order."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdstudio.cli import CliError
from sdstudio.core.request import InputImage, Mode, Request


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lineage", help="show how a picture was made, back to the first txt2img")
    p.add_argument("picture", type=Path, metavar="PICTURE.png")
    p.add_argument(
        "--replay",
        action="store_true",
        help="regenerate the whole chain from the first picture, each result feeding the next step, "
        "and report per step whether it matched (exit 1 when one differs)",
    )
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.set_defaults(func=run)


def describe(request: Request) -> str:
    """One line of a step's key parameters."""
    mode = request.mode.value
    if request.mode is Mode.inpaint and request.inpaint_area.value == "only_masked":
        mode += " (only masked)"
    parts = [
        mode,
        f"seed {request.seed}",
        f"{request.steps} steps",
        request.sampler,
        f"CFG {request.cfg_scale:g}",
        f"{request.width}x{request.height}",
    ]
    if request.mode is not Mode.txt2img:
        parts.append(f"strength {request.strength:g}")
    prompt = request.prompt if len(request.prompt) <= 60 else request.prompt[:57] + "..."
    return ", ".join(parts) + f'  "{prompt}"' + "".join(f"\n   {r}" for r in references(request))


def references(request: Request) -> list[str]:
    """One line per reference picture of the job: its kind, weight, model and the stored picture's hash."""
    from sdstudio.core.control.tags import kind_of

    lines = []
    for i, unit in enumerate(request.controls):
        picture = f"picture {unit.image.sha256[:12]}" if unit.image is not None else "the init picture"
        model = f", model {unit.model}" if unit.model not in ("", "None", "none") else ""
        off = "" if unit.enabled else " (off)"
        lines.append(
            f"reference {i}: {kind_of(unit)} ({unit.module}), weight {unit.weight:g}{model}, {picture}{off}"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    from sdstudio.cli.replay import _store_and_library
    from sdstudio.core.replay import ReplayError, lineage

    if not args.picture.is_file():
        raise CliError(f"{args.picture}: no such file")
    store, library = _store_and_library()
    try:
        chain = lineage(args.picture, store)
    except ReplayError as e:
        raise CliError(str(e)) from None
    if chain[0].recipe.parent:
        print(f"(the first picture's parent {chain[0].recipe.parent[:12]} is not in the gallery)")
    for i, step in enumerate(chain, 1):
        print(f"{i}. {step.path}\n   {describe(step.recipe.request)}")
        if origin := step.recipe.origin:  # e.g. a training sample: the LoRA run and step it shows
            print(f"   {origin.get('text', '')} (run {origin.get('run', '?')})")
    if not args.replay:
        return 0
    return _replay(chain, store, library, args.device)


def _replay(chain: list, store: object, library: object, device: str | None) -> int:
    """Regenerate step by step; each step's init picture is the previous step's regenerated result."""
    from PIL import Image

    from sdstudio.cli.bars import ProgressBar
    from sdstudio.core.errors import EngineError
    from sdstudio.core.replay import ReplayError, compare, read_recipe
    from sdstudio.core.request import RequestError
    from sdstudio.core.root import engine_for

    if chain[0].recipe.parent:
        raise CliError("cannot replay: the first picture's parent is not in the gallery")
    engine = engine_for(library, device)  # type: ignore[arg-type]
    previous = None
    differing = 0
    for i, step in enumerate(chain, 1):
        try:
            recipe = read_recipe(step.path, store, need_inputs=previous is None)  # type: ignore[arg-type]
            request = recipe.bind(library)
            if previous is not None:
                request = request.replace(init_image=InputImage.from_pil(previous))
                if request.mode is Mode.inpaint and request.mask is None:
                    raise ReplayError("its mask is not in the gallery's input store")
            result = engine.run(request.validate(), on_step=ProgressBar())
        except (ReplayError, EngineError, RequestError) as e:
            raise CliError(f"step {i} ({step.path}): {e}") from None
        previous = result.images[0].image
        with Image.open(step.path) as original:
            cmp = compare(original, previous)
        differing += not cmp.identical
        print(f"step {i}: {cmp.describe()}")
    return 1 if differing else 0
