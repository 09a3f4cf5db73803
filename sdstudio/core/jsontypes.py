"""Names for the open values at the core's edges, so signatures say what they carry."""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]  # a JSON object as read from or written to a file, a PNG chunk or the wire
Kwargs = dict[str, Any]  # keyword arguments handed on to a diffusers pipeline or model call unchanged
