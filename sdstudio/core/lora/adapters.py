"""The weight change each adapter form makes (LoRA, LoCon, LoHa, LoKr, full diff, DoRA), as LyCORIS defines it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdstudio.core.errors import ModelError

if TYPE_CHECKING:
    import torch

    Fields = dict[
        str, torch.Tensor
    ]  # one layer's tensors of an adapter file: up, down, alpha, hada_w1_a, ...


KINDS = ("lora", "loha", "lokr", "full")


def kind_of(fields: Fields) -> str:
    """Which adapter form a layer's tensors are: lora (LoCon too), loha, lokr or full."""
    if "up" in fields:
        return "lora"
    if "hada_w1_a" in fields:
        return "loha"
    if "lokr_w1" in fields or "lokr_w1_a" in fields:
        return "lokr"
    return "full"


def _alpha(fields: Fields) -> float | None:
    a = fields.get("alpha")
    return None if a is None else float(a.reshape(-1)[0])


def _scale(fields: Fields, rank: int | None) -> float:
    """alpha / rank, or 1 when the file has no alpha (diffusers/peft) or the form has no rank."""
    alpha = _alpha(fields)
    return 1.0 if alpha is None or not rank else alpha / rank


def _tucker(core: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A Tucker/CP core [r1, r2, k, l] rebuilt with its factors a [out, r1] and b [r2, in] into [out, in, k, l]."""
    import torch

    return torch.einsum("i j k l, j r, i p -> p r k l", core, b, a)


def delta(fields: Fields, shape: tuple[int, ...]) -> torch.Tensor:
    """The weight change ΔW (alpha/rank applied, strength not) in the target's shape; float32 tensors in."""
    import torch

    kind = kind_of(fields)
    if kind == "lora":
        up, down = fields["up"], fields["down"]
        rank = down.shape[0]
        if "mid" in fields:  # LoCon with a Tucker-decomposed kernel
            d = torch.einsum("m n k l, i m, n j -> i j k l", fields["mid"], up.flatten(1), down.flatten(1))
        else:
            d = up.flatten(1) @ down.flatten(1)
        d = d * _scale(fields, rank)
    elif kind == "loha":
        w1a, w1b, w2a, w2b = (fields[k] for k in ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"))
        if "hada_t1" in fields and "hada_t2" in fields:
            d = _tucker(fields["hada_t1"], w1a, w1b) * _tucker(fields["hada_t2"], w2a, w2b)
        else:
            d = (w1a @ w1b) * (w2a @ w2b)
        d = d * _scale(fields, w1b.shape[0])
    elif kind == "lokr":
        rank = None
        if "lokr_w1" in fields:
            w1 = fields["lokr_w1"]
        else:
            w1, rank = fields["lokr_w1_a"] @ fields["lokr_w1_b"], fields["lokr_w1_b"].shape[0]
        if "lokr_w2" in fields:
            w2 = fields["lokr_w2"]
        elif "lokr_t2" in fields:
            w2 = _tucker(fields["lokr_t2"], fields["lokr_w2_a"], fields["lokr_w2_b"])
            rank = fields["lokr_w2_b"].shape[0]
        else:
            w2, rank = fields["lokr_w2_a"] @ fields["lokr_w2_b"], fields["lokr_w2_b"].shape[0]
        if w2.dim() == 4 and w1.dim() == 2:
            w1 = w1[:, :, None, None]
        d = torch.kron(w1, w2) * _scale(fields, rank)
    else:
        d = fields["diff"]
    if d.numel() != _numel(shape):
        raise ValueError(f"the {kind} change has {tuple(d.shape)} values, the layer {tuple(shape)}")
    return d.reshape(shape)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def patched_weight(
    weight: torch.Tensor, fields: Fields, strength: float, out: torch.Tensor | None = None
) -> torch.Tensor:
    """weight (float32) with the adapter applied at `strength`: W + m·ΔW, or DoRA's renormalised form.
    out: a float32 buffer of weight's shape the common LoRA case writes into (else a new tensor)."""
    import torch

    if "diff" not in fields and kind_of(fields) == "full":
        return weight  # a bias-only full diff
    if "dora_scale" in fields:
        return _dora(weight, delta(fields, tuple(weight.shape)), fields["dora_scale"], strength)
    if kind_of(fields) == "lora" and "mid" not in fields:  # the common case in one fused multiply-add
        up, down = fields["up"].flatten(1), fields["down"].flatten(1)
        if up.shape[0] * down.shape[1] != weight.numel():
            raise ValueError(
                f"the lora change is {up.shape[0]}x{down.shape[1]}, the layer {tuple(weight.shape)}"
            )
        scale = _scale(fields, down.shape[0]) * strength
        flat = weight.reshape(up.shape[0], -1)
        if out is not None:
            torch.addmm(flat, up, down, alpha=scale, out=out.view(up.shape[0], -1))
            return out
        return torch.addmm(flat, up, down, alpha=scale).reshape(weight.shape)
    return weight + strength * delta(fields, tuple(weight.shape))


def patched_bias(bias: torch.Tensor, fields: Fields, strength: float) -> torch.Tensor:
    """A full diff's bias change (`diff_b`); other forms leave the bias alone."""
    if "diff_b" not in fields:
        return bias
    if fields["diff_b"].numel() != bias.numel():
        raise ValueError(f"the bias change has {fields['diff_b'].numel()} values, the layer {bias.numel()}")
    return bias + strength * fields["diff_b"].reshape(bias.shape)


def _dora(weight: torch.Tensor, d: torch.Tensor, magnitude: torch.Tensor, strength: float) -> torch.Tensor:
    """DoRA: magnitude · (W + ΔW) / ‖W + ΔW‖, norms per input column (LyCORIS default) or per output row when
    the magnitude has one value per output; blended with W by the strength."""
    directed = weight + d
    per_output = magnitude.shape[0] == weight.shape[0] and (magnitude.dim() < 2 or magnitude.shape[1] == 1)
    if per_output and weight.shape[0] != 1:
        norm = directed.reshape(weight.shape[0], -1).norm(dim=1)
        norm = norm.reshape(weight.shape[0], *[1] * (weight.dim() - 1))
    else:
        cols = directed.transpose(0, 1)
        norm = cols.reshape(cols.shape[0], -1).norm(dim=1)
        norm = norm.reshape(cols.shape[0], *[1] * (weight.dim() - 1)).transpose(0, 1)
    full = directed * (magnitude.reshape(norm.shape) / norm)
    return weight + strength * (full - weight)


def check_layer(fields: Fields, shape: tuple[int, ...]) -> str | None:
    """Why the adapter does not fit a layer of `shape` (None: it fits); computed without the model's weights."""
    try:
        import torch

        with torch.no_grad():
            if kind_of(fields) == "lora" and "mid" not in fields:
                up, down = fields["up"], fields["down"]
                if up.flatten(1).shape[1] != down.shape[0] or up.shape[0] * down[0].numel() != _numel(shape):
                    return f"lora {tuple(up.shape)} x {tuple(down.shape)} vs layer {tuple(shape)}"
                return None
            if "diff" in fields or kind_of(fields) != "full":
                delta(fields, shape)
    except (ValueError, RuntimeError) as e:
        return str(e).splitlines()[0]
    except KeyError as e:
        raise ModelError(f"adapter misses {e}") from None
    return None
