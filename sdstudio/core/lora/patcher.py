"""Patching a pipeline's weights with LoRAs, W' = W + m·(alpha/rank)·up@down, and restoring them exactly.

Originals are kept by reference (the patched layer gets a new tensor; restoring puts the original tensor
back), so a restore is bit-exact and costs nothing, and a change of LoRA set recomputes only the layers whose
LoRAs or strengths changed. Every layer is checked before the first one is changed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from sdstudio.core.errors import ModelError
from sdstudio.core.lora.adapters import check_layer, patched_bias, patched_weight
from sdstudio.core.lora.files import LoraFile
from sdstudio.core.lora.names import Target, key_map
from sdstudio.core.models.entries import Family

if TYPE_CHECKING:
    import torch
    from diffusers import DiffusionPipeline

    from sdstudio.core.lora.adapters import Fields


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoraUse:
    """One LoRA as a job applies it: the file, its version and its UNet / text-encoder strengths."""

    file: LoraFile
    unet: float = 1.0
    te: float = 1.0
    version: str = ""  # changes when the file changes (path, size, mtime or its hash)
    family: Family = Family.unknown

    def strength(self, target: Target) -> float:
        return self.unet if target.is_unet else self.te


@dataclass
class _Saved:
    weight: torch.nn.Parameter
    original: torch.Tensor  # the weight's tensor before patching
    bias: torch.nn.Parameter | None = None
    original_bias: torch.Tensor | None = None
    spare: torch.Tensor | None = (
        None  # CPU: the buffer patched weights are written into, kept so re-patching allocates nothing
    )
    in_place: bool = False  # the layer's own tensor is overwritten; `original` is then a copy


Plan: TypeAlias = (
    "dict[Target, list[tuple[str, float, Fields]]]"  # layer -> (LoRA version, strength, its tensors)
)


class LoraPatcher:
    """The LoRAs currently patched into one pipeline's modules (the UNet and text encoders it shares)."""

    def __init__(self) -> None:
        self._saved: dict[Target, _Saved] = {}
        self._signature: dict[Target, tuple[tuple[str, float], ...]] = {}
        self._maps: dict[int, dict[str, Target]] = {}
        self._spares: dict[Target, _Saved] = {}  # restored CPU layers whose spare buffer is kept
        self._applied: tuple[int, tuple[tuple[str, float, float], ...]] | None = None
        self.changed = 0  # layers recomputed or restored by the last apply (for tests and the benchmark)
        self._in_place = False

    @property
    def in_place(self) -> bool:
        """Patch into the layers' own tensors (their addresses never change: compiled, CUDA-graph UNets) and
        restore from copies, instead of swapping tensors. Changing it restores every layer first."""
        return self._in_place

    @in_place.setter
    def in_place(self, value: bool) -> None:
        if bool(value) != self._in_place:
            self.restore()
            self._spares.clear()
            self._in_place = bool(value)

    @property
    def patched_layers(self) -> int:
        return len(self._saved)

    def _key_map(self, pipe: DiffusionPipeline) -> dict[str, Target]:
        key = id(getattr(pipe, "unet", pipe))
        if key not in self._maps:
            self._maps = {key: key_map(pipe)}
        return self._maps[key]

    def plan(
        self, pipe: DiffusionPipeline, uses: list[LoraUse], model_family: Family = Family.unknown
    ) -> Plan:
        """Which layers get which adapters; ModelError (nothing changed) for a LoRA that does not fit."""
        keys = self._key_map(pipe)
        plan: Plan = {}
        for use in uses:
            path = use.file.path
            # 1. a family the metadata states must be the model's
            if Family.unknown not in (use.family, model_family) and use.family.base != model_family.base:
                raise ModelError(
                    f"LoRA {use.file.name} ({path}) is for {use.family.value}, the model is {model_family.value}"
                )
            # 2. every layer must be one of the model's, of a fitting shape
            unmatched, misfits = [], []
            for layer, fields in use.file.groups.items():
                target = keys.get(layer)
                if target is None:
                    unmatched.append(layer)
                    continue
                module = _module(pipe, target)
                if why := check_layer(fields, tuple(module.weight.shape)):
                    misfits.append(f"{layer}: {why}")
                    continue
                if use.strength(target) != 0:
                    plan.setdefault(target, []).append((use.version, use.strength(target), fields))
            if misfits or len(unmatched) == len(use.file.groups):
                detail = misfits[0] if misfits else f"no layer named like {unmatched[0]!r}"
                raise ModelError(
                    f"LoRA {use.file.name} ({path}) does not fit this model, it is for another model family "
                    f"({len(misfits) or len(unmatched)} of {len(use.file.groups)} layers; {detail})"
                )
            if unmatched:
                log.warning(
                    "LoRA %s: %d layers match nothing in the model, e.g. %s",
                    path,
                    len(unmatched),
                    unmatched[0],
                )
        return plan

    def apply(
        self, pipe: DiffusionPipeline, uses: list[LoraUse], model_family: Family = Family.unknown
    ) -> int:
        """Make the pipeline's weights those of `uses` (none: the originals); returns the layers changed."""
        import torch

        self.changed = 0
        key = (id(getattr(pipe, "unet", pipe)), tuple((u.version, u.unet, u.te) for u in uses))
        if key == self._applied:
            return 0  # the same LoRAs at the same strengths: nothing to do
        self._applied = None
        plan = self.plan(pipe, uses, model_family)  # 1. everything checked first
        try:
            with torch.no_grad():
                # 2. layers no LoRA touches any more get their originals back
                for target in [t for t in self._saved if t not in plan]:
                    self._restore(target)
                # 3. layers whose LoRAs or strengths changed are recomputed from the originals
                for target, adapters in plan.items():
                    signature = tuple((v, s) for v, s, _ in adapters)
                    if self._signature.get(target) == signature:
                        continue
                    self._patch(pipe, target, adapters)
                    self._signature[target] = signature
                    self.changed += 1
        except BaseException:
            self.restore()  # never leave a half-patched model behind
            raise
        self._applied = key
        return self.changed

    def _patch(
        self, pipe: DiffusionPipeline, target: Target, adapters: list[tuple[str, float, Fields]]
    ) -> None:
        import torch

        module = _module(pipe, target)
        saved = self._saved.get(target)
        if saved is None:
            if self._in_place:
                saved = _Saved(module.weight, module.weight.data.clone(), in_place=True)
                saved.spare = module.weight.data  # written into: the layer keeps its tensor
            else:
                saved = self._spares.pop(target, None) or _Saved(module.weight, module.weight.data)
            if getattr(module, "bias", None) is not None:
                bias_now = module.bias.data
                saved.bias, saved.original_bias = (
                    module.bias,
                    bias_now.clone() if self._in_place else bias_now,
                )
            self._saved[target] = saved
        base = saved.original
        if saved.spare is None or saved.spare.shape != base.shape or saved.spare.dtype != base.dtype:
            saved.spare = torch.empty_like(base)
        # 1. the new weight, computed from the original (float32), written into the spare buffer (in place:
        #    the layer's own tensor)
        weight = base.float()
        bias = saved.original_bias.float() if saved.original_bias is not None else None
        for i, (_, strength, fields) in enumerate(adapters):
            on_device = {k: v.to(base.device, torch.float32) for k, v in fields.items()}
            direct = i == 0 and base.dtype == torch.float32
            weight = patched_weight(weight, on_device, strength, out=saved.spare if direct else None)
            if bias is not None:
                bias = patched_bias(bias, on_device, strength)
        if weight.data_ptr() != saved.spare.data_ptr():
            saved.spare.copy_(weight)
        # 2. the module now holds the spare; the original stays untouched for the restore
        if bias is not None:  # a patched bias: the layer has one (saved with its original)
            assert saved.bias is not None and saved.original_bias is not None
        if saved.in_place:
            if bias is not None and saved.bias is not None:
                saved.bias.data.copy_(bias)
            return
        saved.weight.data = saved.spare
        if bias is not None and saved.bias is not None and saved.original_bias is not None:
            saved.bias.data = bias.to(saved.original_bias.dtype)

    def _restore(self, target: Target) -> None:
        saved = self._saved.pop(target)
        self._signature.pop(target, None)
        self.changed += 1
        if saved.in_place:  # copied back into the same tensors (the copies were exact)
            saved.weight.data.copy_(saved.original)
            if saved.bias is not None:
                saved.bias.data.copy_(saved.original_bias)
            return
        saved.weight.data = saved.original
        if saved.bias is not None:
            saved.bias.data = saved.original_bias
        if saved.original.device.type == "cpu":  # kept: CPU allocations of this size cost page faults
            self._spares[target] = saved

    def restore(self) -> int:
        """Every patched layer back to its original tensor, bit for bit; returns how many."""
        self.changed = 0
        self._applied = None
        for target in list(self._saved):
            self._restore(target)
        return self.changed


def _module(pipe: DiffusionPipeline, target: Target) -> torch.nn.Module:
    return getattr(pipe, target.component).get_submodule(target.module)
