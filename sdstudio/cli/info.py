"""`sdstudio info` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="not yet available")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("sdstudio info: not yet available")
    return 1
