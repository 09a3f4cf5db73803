"""`sdstudio info IMAGE.png`: the generation parameters of any supported image (ours or another tool's)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sdstudio.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print the generation parameters stored in an image")
    p.add_argument("image", type=Path, metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="print the request as JSON (sdstudio's fields)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sdstudio.core.gallery.reading import read_parameters

    if not args.image.is_file():
        raise CliError(f"{args.image}: no such file")
    try:
        params = read_parameters(args.image)
    except ValueError as e:
        raise CliError(str(e)) from None
    if params.request is None:
        raise CliError(f"{args.image}: no generation parameters found (not made by a known tool)")
    if args.json:
        print(json.dumps(params.request.to_dict(images="sha256"), indent=2))
    else:
        print(params.infotext.strip())
        print(f"Tool: {params.tool}")
    return 0
