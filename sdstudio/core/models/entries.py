"""Model library entries: what a file or folder is, where it lives, and its A1111 hash."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class Family(str, Enum):
    sd1 = "SD 1.x"
    sd1_inpaint = "SD 1.x inpainting"
    sd2 = "SD 2.x"
    sd2_v = "SD 2.x v-prediction"
    sd2_inpaint = "SD 2.x inpainting"
    sdxl = "SDXL"
    sdxl_inpaint = "SDXL inpainting"
    sdxl_refiner = "SDXL refiner"
    unknown = "unknown"

    @property
    def base(self) -> str:
        """The bundled config folder for this family."""
        return {
            Family.sd1: "sd1",
            Family.sd1_inpaint: "sd1",
            Family.sd2: "sd2",
            Family.sd2_inpaint: "sd2",
            Family.sd2_v: "sd2-v",
            Family.sdxl: "sdxl",
            Family.sdxl_inpaint: "sdxl",
        }.get(self, "")

    @property
    def native_size(self) -> int | None:
        """The square side the family was trained at (None: not known)."""
        return {"sd1": 512, "sd2": 512, "sd2-v": 768, "sdxl": 1024}.get(self.base)

    @property
    def inpaint(self) -> bool:
        return self in (Family.sd1_inpaint, Family.sd2_inpaint, Family.sdxl_inpaint)


class Kind(str, Enum):
    checkpoint = "checkpoint"
    lora = "lora"
    vae = "vae"
    embedding = "embedding"
    controlnet = "controlnet"
    ip_adapter = "ip-adapter"
    clip_vision = "clip-vision"  # IP-Adapter image encoders
    upscaler = "upscaler"
    taesd = "taesd"  # tiny preview decoders (TAESD)


class Source(str, Enum):
    demo = "demo"
    hub = "hub"
    folder = "diffusers folder"
    file = "single file"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: Kind = Kind.checkpoint
    family: Family = Family.unknown
    source: Source = Source.file
    location: str = ""  # file or folder path, or hub repo id
    size: int = 0
    sha256: str = ""  # "" until computed (files only)
    root: str = ""  # the model root it was found in
    note: str = ""
    config_dir: str = field(default="", compare=False)  # component configs for single files ("" = bundled)

    @property
    def short_hash(self) -> str:
        """A1111's short hash: the first 10 hex digits of the file's sha256."""
        return self.sha256[:10]

    @property
    def title(self) -> str:
        """A1111's checkpoint title, "name [hash]"."""
        return f"{self.name} [{self.short_hash}]" if self.short_hash else self.name


def find_named(entries: Iterable[ModelEntry], wanted: str) -> ModelEntry | None:
    """The entry "name" or A1111's "name [hash]" names (its name, file name or title; the hash must match
    where the entry's is known), else the name alone (a hash the library has not computed yet); None if none."""
    name, _, hashed = wanted.strip().partition(" [")
    hashed = hashed.rstrip("]").lower()
    entries = list(entries)
    for e in entries:
        if name in (e.name, Path(e.location).name, e.title) and (not hashed or e.sha256.startswith(hashed)):
            return e
    for e in entries:
        if name in (e.name, Path(e.location).name):
            return e
    return None
