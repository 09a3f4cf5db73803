"""A job's LoRAs: the prompt's tags resolved in the catalog, read once per file version, patched into the
loaded model, and recorded (name, strengths, sha256, A1111's AutoV3 hash)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdstudio.core.errors import ModelError
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.lora.catalog import LoraCatalog, LoraInfo
from sdstudio.core.lora.files import LoraFile, read_lora
from sdstudio.core.lora.patcher import LoraPatcher, LoraUse
from sdstudio.core.lora.tags import parse_tags, tags_in_editing
from sdstudio.core.models.entries import Family
from sdstudio.core.request import RequestError

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline


FILES_KEPT = 8  # LoRA files kept read in memory (a few MB each for typical ranks)


@dataclass(frozen=True)
class AppliedLora:
    """One LoRA a job used, as recorded with its pictures."""

    name: str  # as written in the prompt
    path: str
    te: float
    unet: float
    sha256: str
    autov3: str

    @property
    def short_hash(self) -> str:
        """A1111's `Lora hashes` value: the first 12 hex digits of the AutoV3 hash."""
        return self.autov3[:12]

    def to_dict(self) -> JsonObject:
        return {"name": self.name, "path": self.path, "te": self.te, "unet": self.unet, "sha256": self.sha256}


Wanted = tuple[str, float, float, LoraInfo]  # name as written, te and unet strengths, the file


def resolve_tags(catalog: LoraCatalog, prompt: str, steps: int) -> list[Wanted]:
    """The prompt's LoRA tags found in the catalog; RequestError/ModelError before any file is read."""
    if editing := tags_in_editing(prompt, steps):
        raise RequestError(
            "prompt",
            f"{editing[0]} sits inside prompt editing; sdstudio applies a LoRA to every step, so "
            "write the tag outside the [..] brackets (A1111 would apply it to every step silently)",
        )
    out = []
    for tag in parse_tags(prompt):
        info = catalog.find(tag.name)
        if info.note:
            raise ModelError(f"LoRA {tag.name}: {info.note}")
        out.append((tag.name, tag.te, tag.unet, info))
    return out


class LoraSession:
    """The LoRA state of one loaded model; `prepare` before encoding, `restore` when the model goes."""

    def __init__(self, catalog: LoraCatalog):
        self.catalog = catalog
        self.patcher = LoraPatcher()
        self._files: OrderedDict[tuple[str, int, int], LoraFile] = OrderedDict()

    def _read(self, info: LoraInfo) -> tuple[LoraFile, str]:
        st = info.path.stat()
        key = (str(info.path), st.st_size, st.st_mtime_ns)
        if key not in self._files:
            self._files[key] = read_lora(info.path)
            while len(self._files) > FILES_KEPT:
                self._files.popitem(last=False)
        self._files.move_to_end(key)
        return self._files[key], f"{key[0]}:{key[1]}:{key[2]}"

    def prepare(
        self, pipe: DiffusionPipeline, wanted: list[Wanted], family: Family = Family.unknown
    ) -> tuple[AppliedLora, ...]:
        """Patch the wanted LoRAs into pipe (undoing other ones); what was applied, for the record."""
        uses, applied = [], []
        for name, te, unet, info in wanted:
            file, version = self._read(info)
            uses.append(LoraUse(file, unet, te, version, info.family))
            whole, tail = self.catalog.hashes(info)
            applied.append(AppliedLora(name, str(info.path), te, unet, whole, tail))
        self.patcher.apply(pipe, uses, family)
        return tuple(applied)

    def restore(self) -> None:
        self.patcher.restore()
