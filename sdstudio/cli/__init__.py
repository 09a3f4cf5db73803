"""The `sdstudio` command: plain `sdstudio` starts the studio; subcommands run headless.

Each subcommand lives in its own module with `register(subparsers)`; torch and diffusers load only inside
the command that needs them, so `sdstudio --help` is instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio import __version__

if TYPE_CHECKING:
    from sdstudio.core.gallery import GalleryStore


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def open_gallery(outputs: Path, otherwise: str) -> GalleryStore | None:
    """The gallery the window shows, for a command that adds to it; None with a note saying `otherwise`."""
    import sqlite3

    from sdstudio.core.gallery import GalleryStore

    try:
        return GalleryStore(outputs)
    except (OSError, sqlite3.Error, RuntimeError) as e:
        print(f"sdstudio: note: the gallery could not be opened ({e}); {otherwise}", file=sys.stderr)
        return None


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one clear line, exit 2, no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from sdstudio.cli import animate, generate, gui, info, lineage, models, serve, train, upscale

    parser = _Parser(prog="sdstudio", description="A desktop studio for Stable Diffusion.")
    parser.add_argument("--version", action="version", version=f"sdstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (gui, generate, animate, train, upscale, models, info, lineage, serve):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # which flags were given (replay overrides)
    if args.command is None:
        from sdstudio.cli import gui

        args.func = gui.run
    from sdstudio.core.settings import SettingsError

    try:
        return int(args.func(args) or 0)
    except (CliError, SettingsError) as e:
        print(f"sdstudio: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sdstudio: interrupted", file=sys.stderr)
        return 130
