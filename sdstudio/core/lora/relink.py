"""Reuse and imported A1111 pictures: LoRA tags whose name is not found are relinked by their recorded hash
(sdstudio's sha256, A1111's `Lora hashes`), so renamed or moved files still apply."""

from __future__ import annotations

import re

from sdstudio.core.errors import ModelError
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.lora.catalog import LoraCatalog
from sdstudio.core.lora.tags import parse_tags


def recorded_hashes(extra: JsonObject) -> dict[str, str]:
    """name -> hash (sha256 or AutoV3 prefix) from an sdstudio chunk's `loras` or A1111's `Lora hashes`."""
    out: dict[str, str] = {}
    for item in extra.get("loras") or []:
        if isinstance(item, dict) and item.get("name") and item.get("sha256"):
            out[str(item["name"])] = str(item["sha256"])
    for part in str(extra.get("Lora hashes") or "").split(","):
        name, sep, short = part.rpartition(":")
        if sep and name.strip() and re.fullmatch(r"[0-9a-fA-F]{8,64}", short.strip()):
            out.setdefault(name.strip(), short.strip().lower())
    return out


def relink(prompt: str, hashes: dict[str, str], catalog: LoraCatalog) -> str:
    """The prompt with each tag whose name is unknown renamed to the LoRA of the same hash (others kept)."""
    if not hashes:
        return prompt
    for tag in parse_tags(prompt):
        try:
            catalog.find(tag.name)
            continue
        except ModelError:
            pass
        short = hashes.get(tag.name.translate(str.maketrans("", "", ":,")))
        found = catalog.by_hash(short) if short else None
        if found is not None:
            prompt = prompt.replace(tag.text, tag.text.replace(tag.name, found.name, 1), 1)
    return prompt
