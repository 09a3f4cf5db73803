"""`sdstudio models`: list the model library; `--add-root DIR` adds an A1111/ComfyUI install or a folder;
`--install SOURCE`, `--starter` and `--remove NAME` get and remove models (sdstudio/cli/models_install.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sdstudio.cli import CliError, models_install


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model library (checkpoints, LoRAs, VAEs, embeddings)")
    p.add_argument(
        "--add-root",
        type=Path,
        metavar="DIR",
        help="add a model root (A1111 or ComfyUI install, or a folder)",
    )
    p.add_argument("--all", action="store_true", help="also list LoRAs, VAEs, embeddings, ControlNets, ...")
    p.add_argument("--hash", action="store_true", help="compute missing hashes (reads each file once)")
    models_install.add_arguments(p)
    p.set_defaults(func=run)


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB" if n else "-"


def run(args: argparse.Namespace) -> int:
    from sdstudio.core.errors import ModelError
    from sdstudio.core.models import Kind, ModelLibrary

    if models_install.wanted(args):
        return models_install.run(args)
    from sdstudio.core.root import load_settings

    library = ModelLibrary(load_settings())
    if args.add_root is not None:
        try:
            count = library.add_root(args.add_root)
        except ModelError as e:
            raise CliError(str(e)) from None
        print(f"added model root {args.add_root.expanduser().resolve()} ({count} checkpoints)")
    entries = library.entries(None if args.all else Kind.checkpoint)
    default = library.resolve("").location
    rows = []
    for e in entries:
        if args.hash:
            try:
                e = library.with_hash(e)
            except ModelError as err:
                e = type(e)(**{**e.__dict__, "note": str(err)})
        mark = "*" if e.location == default else " "
        kind = "" if e.kind is Kind.checkpoint else f"[{e.kind.value}] "
        rows.append(
            (
                f"{mark} {kind}{e.name}",
                e.family.value,
                e.short_hash or "-",
                e.source.value,
                _size(e.size),
                e.location,
                e.note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)] if rows else [0] * 5
    print(
        f"{'  name':<{widths[0]}}  {'family':<{widths[1]}}  {'hash':<{widths[2]}}  {'source':<{widths[3]}}  {'size':<{widths[4]}}  location"
    )
    for r in rows:
        line = "  ".join(f"{r[i]:<{widths[i]}}" for i in range(5)) + f"  {r[5]}"
        print(line + (f"\n      ! {r[6]}" if r[6] else ""))
    return 0
