"""The feature extensions every engine asks by default, in hook order. A new feature adds its factory here."""

from __future__ import annotations

from sdstudio.core.engine.hooks import ExtensionFactory


def standard_extensions() -> list[ExtensionFactory]:
    """Factories `(request, library) -> Extension | None` for the built-in features."""
    from sdstudio.core.control.extension import ApplyControlNet
    from sdstudio.core.control.ip_extension import ApplyIpAdapter
    from sdstudio.core.hires import HiresFix
    from sdstudio.core.lora.extension import ApplyLoras
    from sdstudio.core.speed.extension import FastSpeed, PeakMemory, SafeDecode
    from sdstudio.core.vae import UseVae
    from sdstudio.core.variation import VariationNoise

    return [
        UseVae.for_request,
        ApplyLoras.for_request,
        VariationNoise.for_request,
        ApplyControlNet.for_request,
        ApplyIpAdapter.for_request,
        HiresFix.for_request,
        FastSpeed.for_request,
        PeakMemory.for_request,
        SafeDecode.for_request,
    ]
