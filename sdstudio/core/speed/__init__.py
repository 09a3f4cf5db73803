"""Speed: the fast path (compile, CUDA graphs, fused attention), cached compiles, memory plans, few-step CPU runs."""

from __future__ import annotations

SPEEDS = ("standard", "fast")  # Request.speed values; "standard" is the plain diffusers path, bit for bit

__all__ = ["SPEEDS"]
