"""A1111 chunking of weighted fragments into 75-token chunks, and the per-keystroke token counter."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import CLIPTokenizer


CHUNK = 75
COMMA_BACKTRACK = 20


@dataclass
class Chunk:
    """Up to 75 token ids (no BOS/EOS) and their weights."""

    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class TokenCount:
    """Tokens per 75-token chunk; `display` is A1111's "81/150"."""

    per_chunk: tuple[int, ...]

    @property
    def chunks(self) -> int:
        return len(self.per_chunk)

    @property
    def total(self) -> int:
        return sum(self.per_chunk)

    @property
    def limit(self) -> int:
        return max(1, self.chunks) * CHUNK

    @property
    def display(self) -> str:
        return f"{self.total}/{self.limit}"


class _Tok:
    """A tokenizer with a cache of fragment ids and its comma id."""

    def __init__(self, tokenizer: CLIPTokenizer):
        self.tokenizer = tokenizer
        self.comma = tokenizer.get_vocab().get(",</w>", -1)
        self.ids = functools.lru_cache(maxsize=4096)(self._ids)

    def _ids(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, truncation=False, add_special_tokens=False)["input_ids"])


def wrap(tokenizer: CLIPTokenizer) -> _Tok:
    """The tokenizer's wrapper, kept on the tokenizer itself so it goes when the model goes."""
    w = getattr(tokenizer, "_sdstudio_tok", None)
    if w is None:
        w = _Tok(tokenizer)
        try:
            tokenizer._sdstudio_tok = w
        except AttributeError:  # a tokenizer that takes no attributes: wrap anew each time
            pass
    return w


def make_chunks(fragments: list[tuple[str, float]], tok: _Tok) -> list[Chunk]:
    """Split weighted fragments into chunks: BREAK starts a new one; a full chunk moves the text after
    its last comma (within 20 tokens) to the next one."""
    chunks: list[Chunk] = []
    cur = Chunk()
    last_comma = -1

    def close() -> None:
        nonlocal cur, last_comma
        chunks.append(cur)
        cur, last_comma = Chunk(), -1

    for text, weight in fragments:
        if (text, weight) == ("BREAK", -1.0):
            close()
            continue
        for token in tok.ids(text):
            if token == tok.comma:
                last_comma = len(cur.tokens)
            elif len(cur.tokens) == CHUNK and last_comma != -1 and CHUNK - last_comma <= COMMA_BACKTRACK:
                cut = last_comma + 1
                moved = Chunk(cur.tokens[cut:], cur.weights[cut:])
                cur.tokens, cur.weights = cur.tokens[:cut], cur.weights[:cut]
                close()
                cur = moved
            if len(cur.tokens) == CHUNK:
                close()
            cur.tokens.append(token)
            cur.weights.append(weight)
    if cur.tokens or not chunks:
        chunks.append(cur)
    return chunks


@functools.cache
def _default_tokenizer() -> CLIPTokenizer:
    from sdstudio.core.tokenizer import load_clip_tokenizer

    return load_clip_tokenizer()


def count_tokens(
    text: str, tokenizer: CLIPTokenizer | None = None, embeddings: dict[str, int] | None = None
) -> TokenCount:
    """Token counts per chunk for a prompt (its longest prompt-editing variant); cheap enough per keystroke.

    embeddings: vectors per textual-inversion name; a name in the text counts as that many tokens."""
    from sdstudio.core.prompt.parser import parse_attention, parse_prompt

    if embeddings:
        from sdstudio.core.prompt.embeddings import expand_for_count

        text = expand_for_count(text, embeddings)
    tok = wrap(tokenizer if tokenizer is not None else _default_tokenizer())
    parsed = parse_prompt(text)
    texts = [t for _, t in parsed.schedule(100)] if parsed.has_editing else [parsed.text]
    best: tuple[int, ...] = ()
    for t in texts:
        counts = tuple(len(c.tokens) for c in make_chunks(parse_attention(t), tok))
        if (sum(counts), len(counts)) > (sum(best), len(best)):
            best = counts
    return TokenCount(best or (0,))
