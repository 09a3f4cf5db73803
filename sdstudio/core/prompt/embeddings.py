"""Textual-inversion embeddings, as A1111 uses them: an embedding's file name written in a prompt becomes its
vectors (A1111 `embeddings/`, ComfyUI `models/embeddings`; SD 1.x/2.x `emb_params` or `string_to_param`, SDXL
`clip_l` + `clip_g`)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core.errors import ModelError

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


_ATTR = "_sdstudio_embeddings"  # on a tokenizer: {name (lower case): its vector tokens}


@dataclass(frozen=True)
class Embedding:
    name: str
    path: Path
    vectors: tuple[torch.Tensor, ...]  # one [n, D] tensor per text encoder size it carries (768, 1024, 1280)

    @property
    def count(self) -> int:
        return int(self.vectors[0].shape[0])

    def for_encoder(self, index: int, width: int, encoders: int) -> torch.Tensor | None:
        """The vectors for text encoder `index` of `encoders` (SDXL: clip_l, clip_g in order), by width."""
        if len(self.vectors) == encoders and self.vectors[index].shape[-1] == width:
            return self.vectors[index]
        return next((v for v in self.vectors if v.shape[-1] == width), None)


def load_embedding(path: str | Path) -> Embedding:
    """Read an embedding file; pickles only through torch's weights-only loader."""
    path = Path(path)
    # 1. read the tensors
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            loaded: object = load_file(str(path))
        else:
            import torch

            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(f"{path}: not a readable embedding ({why})") from None
    # 2. find the vectors in the known layouts
    data = loaded if isinstance(loaded, dict) else {}
    if "clip_l" in data and "clip_g" in data:
        found = [data["clip_l"], data["clip_g"]]
    elif "emb_params" in data:
        found = [data["emb_params"]]
    elif isinstance(data.get("string_to_param"), dict) and data["string_to_param"]:
        found = [next(iter(data["string_to_param"].values()))]
    elif len(data) == 1 and hasattr(next(iter(data.values())), "shape"):  # diffusers: {token: vector}
        found = [next(iter(data.values()))]
    else:
        raise ModelError(
            f"{path}: not a textual-inversion embedding (expected emb_params, string_to_param or clip_l/clip_g)"
        )
    vectors = tuple(v.detach().float().reshape(-1, v.shape[-1]) for v in found)
    if any(v.shape[0] != vectors[0].shape[0] or v.shape[0] == 0 for v in vectors):
        raise ModelError(f"{path}: the embedding's vector sets differ in length")
    return Embedding(path.stem, path, vectors)


def _tokens(emb: Embedding) -> list[str]:
    """Vector tokens: lower case (CLIP lowercases the text), no characters the prompt syntax uses."""
    key = re.sub(r"[^a-z0-9]+", "", emb.name.lower())[:24]
    tag = hashlib.sha1(str(emb.path).encode()).hexdigest()[:6]
    return [f"<emb-{key}-{tag}-{i}>" for i in range(emb.count)]


def _register(pipe: DiffusionPipeline, emb: Embedding) -> list[str]:
    """Add the embedding's vectors to each tokenizer / text encoder of pipe (once); returns its tokens."""
    import torch

    found = [
        (getattr(pipe, f"tokenizer{s}", None), getattr(pipe, f"text_encoder{s}", None)) for s in ("", "_2")
    ]
    pairs: list[tuple[PreTrainedTokenizerBase, PreTrainedModel]] = [
        (t, e) for t, e in found if t is not None and e is not None
    ]
    tokens = _tokens(emb)
    # 1. every encoder must have vectors of its width: check all before changing any
    widths = [e.get_input_embeddings().weight.shape[-1] for _, e in pairs]
    missing = [w for i, w in enumerate(widths) if emb.for_encoder(i, w, len(pairs)) is None]
    if missing:
        have = ", ".join(str(v.shape[-1]) for v in emb.vectors)
        raise ModelError(
            f"embedding {emb.name} ({emb.path}) is for another model family: its vectors are {have} wide, "
            f"this model's text encoder takes {', '.join(map(str, widths))}"
        )
    # 2. new tokens, new embedding rows holding the vectors
    for i, (tokenizer, encoder) in enumerate(pairs):
        tokenizer.add_tokens(tokens)
        ids = tokenizer.convert_tokens_to_ids(tokens)
        if encoder.get_input_embeddings().weight.shape[0] < len(tokenizer):
            encoder.resize_token_embeddings(len(tokenizer))
        table = encoder.get_input_embeddings().weight
        vectors = emb.for_encoder(i, table.shape[-1], len(pairs))
        assert vectors is not None  # step 1 checked every encoder
        with torch.no_grad():
            table[ids] = vectors.to(table.device, table.dtype)
        known = getattr(tokenizer, _ATTR, None)
        if known is None:
            known = {}
            setattr(tokenizer, _ATTR, known)
        known[emb.name.lower()] = tokens
    return tokens


def _name_pattern(names: list[str]) -> re.Pattern[str]:
    """One of the names as a whole word (case-insensitive; longest first, so "bad-hands-5" wins over "bad")."""
    ordered = sorted(set(names), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, ordered)) + r")(?![\w-])", re.I)


def names_in(texts: list[str], names: list[str]) -> list[str]:
    """The embedding names that appear as words in the texts (case-insensitive, longest names first)."""
    if not names:
        return []
    lower = {n.lower(): n for n in names}
    found = {lower[m.group(1).lower()] for t in texts for m in _name_pattern(names).finditer(t)}
    return sorted(found, key=len, reverse=True)


def apply_embeddings(pipe: DiffusionPipeline, texts: list[str], files: dict[str, Path]) -> list[str]:
    """Texts to encode: each embedding name written in them (`files`: name -> file) becomes its vector tokens,
    registered with pipe's tokenizers and text encoders on first use."""
    used = names_in(texts, list(files))
    if not used:
        return texts
    tokenizer = getattr(pipe, "tokenizer", None)
    known: dict[str, list[str]] = getattr(tokenizer, _ATTR, None) or {}
    replace: dict[str, str] = {}
    for name in used:
        tokens = known.get(name.lower()) or _register(pipe, load_embedding(files[name]))
        replace[name.lower()] = " ".join(tokens)
    pattern = _name_pattern(used)
    return [pattern.sub(lambda m: replace[m.group(1).lower()], t) for t in texts]


def expand_for_count(text: str, vectors: dict[str, int]) -> str:
    """Text whose token count is the prompt's with embeddings: each name stands for as many tokens as vectors."""
    if not vectors:
        return text
    lower = {n.lower(): n for n in vectors}
    return _name_pattern(list(vectors)).sub(
        lambda m: " ".join(["a"] * vectors[lower[m.group(1).lower()]]), text
    )


class EmbeddingCatalog:
    """Vectors and width per embedding name, each file read once per version (path, mtime)."""

    def __init__(self, files: Callable[[], dict[str, Path]]):
        self._files = files
        self._seen: dict[tuple[str, float], tuple[int, int] | None] = {}

    def shapes(self) -> dict[str, tuple[int, int] | None]:
        """(vectors, width) by name; None for a file that is no readable embedding."""
        try:
            files = self._files()
        except Exception:  # a broken model root: no embeddings rather than no count or listing
            return {}
        out: dict[str, tuple[int, int] | None] = {}
        for name, path in files.items():
            try:
                key = (str(path), Path(path).stat().st_mtime)
            except OSError:
                continue
            if key not in self._seen:
                try:
                    emb = load_embedding(path)
                    self._seen[key] = (emb.count, int(emb.vectors[-1].shape[-1]))
                except ModelError:
                    self._seen[key] = None
            out[name] = self._seen[key]
        return out

    def counts(self) -> dict[str, int]:
        """Vectors per readable embedding: what the token counter needs."""
        return {name: shape[0] for name, shape in self.shapes().items() if shape is not None}
