"""The curated starter models (resources/starter-models.json): what each is for, its size, family and licence."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sdstudio.core import paths
from sdstudio.core.install import hub, layout
from sdstudio.core.install.plan import InstallError, InstallPlan
from sdstudio.core.models.entries import Kind


@dataclass(frozen=True)
class StarterFile:
    repo: str
    path: str
    kind: Kind
    name: str  # its name in the library's folder for its kind


@dataclass(frozen=True)
class Starter:
    id: str
    name: str
    family: str
    kind: Kind
    size: int  # approximate bytes (the hub's exact sizes are read before downloading)
    licence: str
    purpose: str
    files: tuple[StarterFile, ...]

    def targets(self, library: Path) -> list[Path]:
        return [layout.kind_folder(library, f.kind) / f.name for f in self.files]

    def installed(self, library: Path) -> bool:
        return all(p.exists() for p in self.targets(library))


@cache
def starters() -> tuple[Starter, ...]:
    data = json.loads((paths.resources_dir() / "starter-models.json").read_text(encoding="utf-8"))
    out = []
    for m in data["models"]:
        kind = Kind(m["kind"])
        files = tuple(
            StarterFile(
                f["repo"], f["path"], Kind(f.get("kind", kind.value)), f.get("as", f["path"].split("/")[-1])
            )
            for f in m["files"]
        )
        out.append(
            Starter(m["id"], m["name"], m["family"], kind, int(m["size"]), m["licence"], m["purpose"], files)
        )
    return tuple(out)


def find(text: str) -> Starter | None:
    key = text.strip().lower()
    return next((s for s in starters() if key in (s.id, s.name.lower())), None)


def plan(starter: Starter) -> InstallPlan:
    """Each file's commit, size and sha256 from the hub (or the cache when offline)."""
    files = tuple(hub.file_plan(f.repo, f.path, "main", f.kind, f.name) for f in starter.files)
    if not files:
        raise InstallError(f"starter {starter.id} names no files")
    return InstallPlan(starter.id, starter.name, files, None)
