"""`sdstudio models --install/--starter/--remove`: installs with a terminal progress bar, the starter list, trash."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.cli import CliError

if TYPE_CHECKING:
    from sdstudio.core.install.plan import FileProgress
    from sdstudio.core.settings import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--install",
        metavar="SOURCE",
        help="install a model: a starter id, a hub id or file, a huggingface.co/civitai.com/https URL, "
        "a Civitai AIR, or a local file or folder",
    )
    p.add_argument("--sha256", metavar="HEX", default="", help="the file's expected sha256 (plain URLs)")
    p.add_argument(
        "--kind", metavar="KIND", help="checkpoint, lora, vae, embedding, controlnet, upscaler, ..."
    )
    p.add_argument("--name", metavar="NAME", default="", help="the installed file's name")
    p.add_argument(
        "--mode",
        choices=("copy", "move", "link"),
        default="copy",
        help="local files: copy, move or link them",
    )
    p.add_argument("--starter", action="store_true", help="list the curated starter models")
    p.add_argument("--remove", metavar="NAME", help="move a model (and its sidecar files) to the trash")


def wanted(args: argparse.Namespace) -> bool:
    return bool(args.install or args.starter or args.remove)


def run(args: argparse.Namespace) -> int:
    from sdstudio.core.root import load_settings

    settings = load_settings()
    if args.starter:
        return _starter_list(settings)
    if args.remove:
        return _remove(settings, args.remove)
    return _install(settings, args)


def _starter_list(settings: Settings) -> int:
    from sdstudio.core.install.layout import human_size
    from sdstudio.core.install.starters import starters

    library = settings.library_path()
    for s in starters():
        mark = "installed" if s.installed(library) else ""
        print(f"{s.id:<18} {s.name:<44} {s.family:<18} ~{human_size(s.size):<10} {mark}")
        print(f"{'':<18} {s.purpose}")
        print(f"{'':<18} licence: {s.licence}")
    print("\ninstall one with: sdstudio models --install ID")
    return 0


class _Bar:
    """One line per file on stderr, redrawn in place: bytes, percent, speed and time left."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.current = ""

    def __call__(self, p: FileProgress) -> None:
        from sdstudio.core.install.layout import human_size

        now = time.monotonic()
        done_file = p.total is not None and p.done >= p.total
        if not done_file and now - self.last < (0.1 if self.tty else 2.0):
            return
        self.last = now
        total, done = p.total, p.done
        width = 24
        frac = done / total if total else 0.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        eta = p.eta
        left = f"ETA {int(eta // 60)}:{int(eta % 60):02d}" if eta is not None else "ETA -:--"
        count = f"[{p.index}/{p.count}] " if p.count > 1 else ""
        line = (
            f"{count}{p.name[:40]} [{bar}] {frac * 100:5.1f}% {human_size(done)}/{human_size(total)} "
            f"{human_size(p.speed)}/s {left}"
        )
        cols = shutil.get_terminal_size((120, 20)).columns
        sys.stderr.write(("\r" + line[: cols - 1].ljust(cols - 1)) if self.tty else line + "\n")
        if done_file and self.tty:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _install(settings: Settings, args: argparse.Namespace) -> int:
    from sdstudio.core.install.installer import install
    from sdstudio.core.install.plan import InstallError
    from sdstudio.core.install.sources import parse_kind, resolve

    try:
        kind = parse_kind(args.kind)
        plan = resolve(args.install, settings, kind=kind, name=args.name, sha256=args.sha256)
        print(f"installing {plan.title}", file=sys.stderr)
        done = install(plan, settings, on_progress=_Bar(), mode=args.mode)
    except InstallError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        print("\nsdstudio: interrupted; run the same command again to resume the download", file=sys.stderr)
        return 130
    print(f"installed {done.kind.value}: {done.paths[0]}")
    if done.sha256:
        print(
            f"sha256 {done.sha256} ({'verified' if done.verified else 'not verified'}); A1111 hash {done.sha256[:10]}"
        )
    for note in done.notes:
        print(f"note: {note}")
    return 0


def _remove(settings: Settings, name: str) -> int:
    from send2trash import send2trash

    from sdstudio.core.models import ModelLibrary

    library = ModelLibrary(settings)
    matches = [
        e
        for e in library.entries(None)
        if e.source.value not in ("demo", "hub") and name in (e.name, Path(e.location).name, e.location)
    ]
    if not matches:
        raise CliError(f"no model named {name!r} in the library (see sdstudio models --all)")
    if len(matches) > 1:
        raise CliError(f"{name!r} names {len(matches)} models: " + ", ".join(e.location for e in matches))
    path = Path(matches[0].location)
    stem = path.with_suffix("")
    extras = (
        [Path(f"{stem}{s}") for s in (".civitai.info", ".json", ".preview.png")] if path.is_file() else []
    )
    for p in [path, *extras]:
        if p.exists() or p.is_symlink():
            try:
                send2trash(str(p))
            except OSError as e:
                raise CliError(f"{p}: cannot move to the trash ({e})") from None
    print(f"moved {path} to the trash")
    return 0
