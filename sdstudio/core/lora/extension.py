"""The engine extension that patches a job's LoRAs into the model before its prompts are encoded."""

from __future__ import annotations

from sdstudio.core.engine.hooks import Extension, RunContext
from sdstudio.core.lora.session import LoraSession, Wanted, resolve_tags
from sdstudio.core.protocols import Library
from sdstudio.core.request import Request


class ApplyLoras(Extension):
    """Patches the prompt's LoRAs (or none: earlier ones are undone) into the loaded model and records them
    in the result (`loras`). The patch stays on the model for the next job with the same LoRAs."""

    def __init__(self, wanted: list[Wanted]):
        self.wanted = wanted

    @classmethod
    def for_request(cls, request: Request, library: Library) -> ApplyLoras:
        """The LoRAs the (effective) prompt names, found before the model loads (RequestError/ModelError);
        always an extension: a prompt without LoRAs undoes the previous job's."""
        return cls(resolve_tags(library.loras, request.prompt, request.steps))

    def before_encode(self, ctx: RunContext) -> None:
        session = ctx.model.extras.get("loras")
        if session is None:
            session = ctx.model.extras["loras"] = LoraSession(ctx.library.loras)
        # a compiled UNet (speed "fast", CUDA graphs) keeps its weights' addresses: patch those tensors
        session.patcher.in_place = bool(getattr(ctx.model.extras.get("fast"), "compiled", False))
        ctx.record["loras"] = session.prepare(ctx.pipe, self.wanted, ctx.model.family)
