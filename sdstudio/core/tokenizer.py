"""The CLIP tokenizer, built from the BPE file shipped in resources/: model configs without tokenizer files,
token counting and the demo model all use it (no download)."""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sdstudio.core import paths
from sdstudio.core.metadata_io import atomic_folder

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

_VERSION = "1"  # bump when the files written change


def default_folder() -> Path:
    """Where the default tokenizer is built."""
    return paths.data_dir() / "models" / f"clip-tokenizer-v{_VERSION}"


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte -> printable character table."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    """The 49,408-token CLIP vocabulary and its merges, from the BPE file shipped in resources/."""
    bpe = paths.resources_dir() / "clip" / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(bpe, "rt", encoding="utf-8").read().split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def write_clip_tokenizer(folder: Path, pad_token: str = "<|endoftext|>") -> None:
    """Write a CLIPTokenizer folder (vocab.json, merges.txt, configs) equal to openai/clip-vit-large-patch14's."""
    vocab, merges = clip_vocab_and_merges()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": pad_token,
        "do_lower_case": True,
        "errors": "replace",
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")


def load_clip_tokenizer(folder: Path | None = None) -> CLIPTokenizer:
    """A CLIPTokenizer from `folder`; None: the one built from the shipped BPE file (built once)."""
    from transformers import CLIPTokenizer

    if folder is None:
        folder = default_folder()
        if not (folder / "vocab.json").exists():
            atomic_folder(folder, write_clip_tokenizer)
    return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)
