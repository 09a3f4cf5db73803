"""`sdstudio generate --from PICTURE.png [flags] -o OUT.png [--verify]`: regenerate a picture from its metadata."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sdstudio.cli import CliError
from sdstudio.core.request import InpaintArea, InputImage, Mode, Request, RequestError

# generate's flags whose Request field has another name; a flag named like its field needs no entry
_FIELD_OF = {
    "negative": "negative_prompt",
    "cfg": "cfg_scale",
    "batch": "batch_size",
    "padding": "inpaint_padding",
    "style": "styles",
    "init": "init_image",
    "only_masked": "inpaint_area",
}
_NOT_FIELDS = {"output", "device", "from_picture", "verify", "func", "command", "argv"}


def explicit_flags(args: argparse.Namespace) -> dict[str, object]:
    """The generate options given on the command line (not defaults), by dest."""
    from sdstudio.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    gen = sub.choices["generate"]
    for action in gen._actions:
        action.default = argparse.SUPPRESS
        action.required = False
    given = vars(parser.parse_args(getattr(args, "argv", [])))
    return {k: v for k, v in given.items() if k not in _NOT_FIELDS}


def apply_overrides(request: Request, flags: dict[str, object]) -> Request:
    """The recorded request with each flag given on the command line replacing its one field."""
    fields = set(Request.__dataclass_fields__)
    changes: dict[str, object] = {}
    for dest, value in flags.items():
        name = _FIELD_OF.get(dest, dest)
        if name not in fields or value is None:
            continue
        if dest in ("init", "mask"):
            value = InputImage.from_file(value, name)  # type: ignore[arg-type]
        elif dest == "only_masked":
            value = InpaintArea.only_masked if value else InpaintArea.whole
        elif dest == "style":
            value = tuple(value)  # type: ignore[arg-type]
        changes[name] = value
    if "init_image" in changes and request.mode is Mode.txt2img:
        changes["mode"] = Mode.inpaint if changes.get("mask") or request.mask else Mode.img2img
    if "mask" in changes:
        changes["mode"] = Mode.inpaint
    return request.replace(**changes)


def generate_from(args: argparse.Namespace) -> int:
    """Run a picture's recipe with overrides; print what cannot be honoured first, the comparison last."""
    from sdstudio.cli.generate import execute
    from sdstudio.core.errors import ModelError
    from sdstudio.core.replay import ReplayError, compare, environment_changes, read_recipe

    picture: Path = args.from_picture
    if not picture.is_file():
        raise CliError(f"{picture}: no such file")
    store, library = _store_and_library()
    try:
        recipe = read_recipe(picture, store)
    except ReplayError as e:
        raise CliError(str(e)) from None
    flags = explicit_flags(args)
    try:
        base = recipe.bind(library) if "model" not in flags else recipe.request
        request = apply_overrides(base, flags).validate()
    except (RequestError, ModelError) as e:
        raise CliError(str(e)) from None
    ignored = [k for k in recipe.unhonoured]
    if ignored:
        print(f"not reproduced (this studio cannot honour them): {', '.join(ignored)}", file=sys.stderr)
    result = execute(request, args, library)
    if not args.verify:
        return 0
    from PIL import Image

    with Image.open(picture) as original:
        cmp = compare(original, result.images[0].image)
    print(cmp.describe())
    if not cmp.identical:
        changes = environment_changes(recipe.environment, result.environment)
        print("recorded on another setup: " + "; ".join(changes) if changes else "same recorded setup")
        return 1
    return 0


def _store_and_library():  # noqa: ANN202 - the two services replay reads
    from sdstudio.core.root import build_services

    services = build_services()
    return services.store, services.library
