"""LoRA and LyCORIS applied by patching the weights (no peft), restored exactly; names, files and hashes."""

from sdstudio.core.lora.catalog import LoraCatalog, LoraInfo, lora_roots
from sdstudio.core.lora.files import LoraFile, autov3, family_from_header, read_lora
from sdstudio.core.lora.patcher import LoraPatcher, LoraUse
from sdstudio.core.lora.session import AppliedLora, LoraSession, resolve_tags
from sdstudio.core.lora.tags import LoraTag, parse_tags, tags_in_editing

__all__ = [
    "AppliedLora",
    "LoraCatalog",
    "LoraFile",
    "LoraInfo",
    "LoraPatcher",
    "LoraSession",
    "LoraTag",
    "LoraUse",
    "autov3",
    "family_from_header",
    "lora_roots",
    "parse_tags",
    "read_lora",
    "resolve_tags",
    "tags_in_editing",
]
