"""`sdstudio gui` (also plain `sdstudio`): start the studio window."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="start the studio window (the default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sdstudio.cli import CliError
    from sdstudio.gui.display import display_problem

    problem = display_problem()
    if problem:
        raise CliError(problem)
    from sdstudio.gui.app import run_app

    return run_app()
