"""The prompt language: A1111 syntax, inline negatives, styles, encoding and token counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdstudio.core.prompt.parser import (
    BREAK,
    ParsedPrompt,
    lora_tags,
    merge_negative,
    parse_attention,
    parse_prompt,
    split_inline_negatives,
)
from sdstudio.core.prompt.styles import (
    Style,
    all_styles,
    apply_styles,
    builtin_presets,
    import_a1111_styles,
    load_styles,
)
from sdstudio.core.prompt.tokens import TokenCount, count_tokens

if TYPE_CHECKING:
    from sdstudio.core.prompt.encode import Conditioning

__all__ = [
    "BREAK",
    "Conditioning",
    "ParsedPrompt",
    "Style",
    "TokenCount",
    "all_styles",
    "apply_styles",
    "build_conditioning",
    "builtin_presets",
    "count_tokens",
    "effective_prompts",
    "import_a1111_styles",
    "load_styles",
    "lora_tags",
    "parse_attention",
    "parse_prompt",
]


def effective_prompts(
    prompt: str, negative: str, styles: tuple[str, ...] | list[str] = ()
) -> tuple[str, str]:
    """Styles applied and inline negatives moved to the negative prompt: what gets recorded."""
    prompt, negative = apply_styles(prompt, negative, styles)
    prompt, terms = split_inline_negatives(prompt)
    return prompt, merge_negative(negative, terms)


def build_conditioning(pipe, prompt: str, negative: str, steps: int, clip_skip: int = 1) -> Conditioning:
    """Weighted, chunked, scheduled text embeddings for a diffusers SD1/SD2/SDXL pipeline."""
    from sdstudio.core.prompt.encode import build_conditioning as build

    return build(pipe, prompt, negative, steps, clip_skip)
