"""`<lora:...>` and `<lyco:...>` tags as A1111 reads them: `<lora:name:te:unet>`, named `te=` / `unet=`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sdstudio.core.request import RequestError

_TAG = re.compile(r"<(?:lora|lyco):([^<>]*)>", re.I)


@dataclass(frozen=True)
class LoraTag:
    """One tag: the name as written and its text-encoder and UNet strengths (A1111: te first, unet = te)."""

    name: str
    te: float = 1.0
    unet: float = 1.0
    text: str = ""


def _number(tag: str, value: str) -> float:
    try:
        out = float(value)
    except ValueError:
        raise RequestError("prompt", f"{tag}: {value.strip()!r} is not a number") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise RequestError("prompt", f"{tag}: {value.strip()!r} is not a finite number")
    return out


def parse_tags(prompt: str) -> list[LoraTag]:
    """The LoRA tags of a prompt in order; a bad number is a RequestError naming the tag."""
    out: list[LoraTag] = []
    for m in _TAG.finditer(prompt):
        tag = m.group(0)
        positional: list[str] = []
        named: dict[str, str] = {}
        for part in m.group(1).split(":"):
            key, eq, value = part.partition("=")
            if eq and key.strip() in ("te", "unet", "dyn"):
                named[key.strip()] = value
            else:
                positional.append(part)
        name = positional[0].strip() if positional else ""
        if not name:
            raise RequestError("prompt", f"{tag}: the LoRA has no name")
        te = _number(tag, positional[1]) if len(positional) > 1 and positional[1].strip() else 1.0
        te = _number(tag, named["te"]) if "te" in named else te
        unet = _number(tag, positional[2]) if len(positional) > 2 and positional[2].strip() else te
        unet = _number(tag, named["unet"]) if "unet" in named else unet
        out.append(LoraTag(name, te, unet, tag))
    return out


def tags_in_editing(prompt: str, steps: int) -> list[str]:
    """Tags that prompt editing or alternation switches on or off during the steps (sdstudio refuses those)."""
    from sdstudio.core.prompt.parser import parse_prompt

    tags = [m.group(0) for m in _TAG.finditer(prompt)]
    if not tags or "[" not in prompt:
        return []
    counter = iter(range(len(tags)))
    marked = _TAG.sub(lambda m: f" sdstudiolora{next(counter)}x ", prompt)
    texts = [text for _, text in parse_prompt(marked, inline_negatives=False).schedule(max(1, steps))]
    return [t for i, t in enumerate(tags) if len({f"sdstudiolora{i}x" in text for text in texts}) > 1]
