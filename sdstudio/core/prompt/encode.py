"""Text conditioning as A1111 makes it: weighted, 75-token chunks, clip skip, SDXL pooled, prompt editing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sdstudio.core.jsontypes import Kwargs
from sdstudio.core.prompt.parser import parse_attention, parse_prompt
from sdstudio.core.prompt.tokens import CHUNK, Chunk, make_chunks, wrap

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline


@dataclass
class _Embeds:
    """One prompt's encoding: [1, chunks*77, D] and, for SDXL, the pooled [1, P]."""

    embeds: torch.Tensor
    pooled: torch.Tensor | None = None


@dataclass
class Conditioning:
    """Embeddings per stretch of steps; `kwargs_at(step)` gives diffusers kwargs for a 0-based step."""

    segments: list[tuple[int, Kwargs]]  # (first 0-based step, kwargs), ascending
    change_steps: set[int] = field(default_factory=set)

    def kwargs_at(self, step: int) -> Kwargs:
        current = self.segments[0][1]
        for start, kwargs in self.segments:
            if start > step:
                break
            current = kwargs
        return dict(current)


class _Encoder:
    """Encodes prompt texts with a pipeline's text encoder(s), caching by text."""

    def __init__(self, pipe: DiffusionPipeline, clip_skip: int):
        self.pipe = pipe
        self.clip_skip = max(1, int(clip_skip or 1))
        te1 = getattr(pipe, "text_encoder", None)
        te2 = getattr(pipe, "text_encoder_2", None)
        self.sdxl = te2 is not None
        pairs = [(getattr(pipe, "tokenizer", None), te1), (getattr(pipe, "tokenizer_2", None), te2)]
        self.pairs = [(wrap(t), e) for t, e in pairs if t is not None and e is not None]
        if not self.pairs:
            raise ValueError("the pipeline has no text encoder")
        first = self.pairs[0][1]
        self.device, self.dtype = first.device, first.dtype
        self.cache: dict[str, _Embeds] = {}
        self.empty: torch.Tensor | None = None

    def chunks(self, text: str) -> list[Chunk]:
        return make_chunks(parse_attention(text), self.pairs[0][0])

    def encode(self, text: str, n_chunks: int = 0) -> _Embeds:
        """Encode text; pad with empty chunks up to n_chunks."""
        import torch

        if text not in self.cache:
            parts, pooled = [], None
            for chunk in self.chunks(text):
                z, p = self._chunk(chunk)
                parts.append(z)
                pooled = p if pooled is None else pooled  # SDXL: pooled from the first chunk, as A1111
            self.cache[text] = _Embeds(torch.cat(parts, dim=1), pooled)
        e = self.cache[text]
        have = e.embeds.shape[1] // (CHUNK + 2)
        if have < n_chunks:
            if self.empty is None:
                self.empty = self._chunk(Chunk())[0]
            e = _Embeds(torch.cat([e.embeds] + [self.empty] * (n_chunks - have), dim=1), e.pooled)
        return e

    def _chunk(self, chunk: Chunk) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One chunk: BOS + tokens + EOS + padding to 77, through each encoder; weights applied."""
        import torch

        hidden, pooled = [], None
        for tok, encoder in self.pairs:
            t = tok.tokenizer
            pad = t.pad_token_id if t.pad_token_id is not None else t.eos_token_id
            ids = [t.bos_token_id, *chunk.tokens, t.eos_token_id]
            ids += [pad] * (CHUNK + 2 - len(ids))
            ids_t = torch.tensor([ids], device=encoder.device)
            out = encoder(ids_t, output_hidden_states=True)
            if self.sdxl:  # penultimate layer (and deeper with clip skip), no final norm
                hidden.append(out.hidden_states[-(self.clip_skip + 1)])
                if hasattr(out, "text_embeds"):
                    pooled = out.text_embeds
            elif self.clip_skip == 1:
                hidden.append(out.last_hidden_state)
            else:
                h = out.hidden_states[-self.clip_skip]
                model = getattr(encoder, "text_model", encoder)  # transformers 5 flattened it
                hidden.append(model.final_layer_norm(h))
        z = torch.cat(hidden, dim=-1) if len(hidden) > 1 else hidden[0]
        weights = [1.0, *chunk.weights] + [1.0] * (CHUNK + 1 - len(chunk.weights))
        if any(w != 1.0 for w in weights):  # A1111 "Original": weight, then restore the mean
            zf = z.float()  # in float32 so half-precision means stay exact enough
            w = torch.tensor(weights, device=z.device, dtype=torch.float32).reshape(1, -1, 1)
            weighted = zf * w
            ratio = zf.mean() / weighted.mean()
            # a mean of ~0 (random-weight models) makes the ratio inf or absurd: then the weights stand alone
            z = weighted * ratio if torch.isfinite(ratio) and 1e-3 < ratio.abs() < 1e3 else weighted
        return z.to(self.dtype), pooled


def build_conditioning(
    pipe: DiffusionPipeline, prompt: str, negative: str, steps: int, clip_skip: int = 1
) -> Conditioning:
    """Conditioning for a diffusers SD1/SD2/SDXL pipeline over `steps` steps (A1111 clip skip: 1 = none)."""
    import torch

    # 1. schedules: which text at which step, for the prompt and the negative prompt
    steps = max(1, int(steps))
    pos = parse_prompt(prompt).schedule(steps)
    neg = parse_prompt(negative, inline_negatives=False).schedule(steps)
    enc = _Encoder(pipe, clip_skip)
    zero_negative = (
        enc.sdxl and not negative.strip() and getattr(pipe.config, "force_zeros_for_empty_prompt", False)
    )

    # 2. one chunk count for every text so the UNet sees equal lengths
    with torch.no_grad():
        texts = {t for _, t in pos} | {t for _, t in neg}
        n = max(len(enc.chunks(t)) for t in texts)

        def text_at(schedule: list[tuple[int, str]], i: int) -> str:
            return next(t for end, t in schedule if end >= i + 1)

        # 3. one kwargs dict per stretch of steps where the pair of texts stays the same
        segments: list[tuple[int, Kwargs]] = []
        last: tuple[str, str] | None = None
        for i in range(steps):
            pair = (text_at(pos, i), text_at(neg, i))
            if pair == last:
                continue
            last = pair
            p = enc.encode(pair[0], n)
            q = p if pair[1] == pair[0] else enc.encode(pair[1], n)  # one text, one encoder call
            kw: Kwargs = {
                "prompt_embeds": p.embeds,
                "negative_prompt_embeds": torch.zeros_like(p.embeds) if zero_negative else q.embeds,
            }
            if enc.sdxl:
                kw["pooled_prompt_embeds"] = p.pooled
                kw["negative_pooled_prompt_embeds"] = (
                    torch.zeros_like(p.pooled) if zero_negative else q.pooled
                )
            segments.append((i, kw))
    return Conditioning(segments, {s for s, _ in segments if s > 0})


def swap_embeddings(cond: Conditioning, step: int, tensors: dict[str, torch.Tensor], batch: int) -> None:
    """Put the embeddings for 0-based `step` into the pipeline's callback tensors (CFG: [negative, positive])."""
    import torch

    kw = cond.kwargs_at(step)
    current = tensors.get("prompt_embeds")
    if current is None:
        return
    cfg = current.shape[0] == 2 * batch

    def stack(neg: torch.Tensor, pos: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        parts = [neg.repeat(batch, *[1] * (neg.dim() - 1))] if cfg else []
        parts.append(pos.repeat(batch, *[1] * (pos.dim() - 1)))
        return torch.cat(parts).to(device=like.device, dtype=like.dtype)

    tensors["prompt_embeds"] = stack(kw["negative_prompt_embeds"], kw["prompt_embeds"], current)
    if "add_text_embeds" in tensors and "pooled_prompt_embeds" in kw:
        like = tensors["add_text_embeds"]
        tensors["add_text_embeds"] = stack(
            kw["negative_pooled_prompt_embeds"], kw["pooled_prompt_embeds"], like
        )
