"""The API's lists and refreshes (models, samplers, schedulers, VAEs, LoRAs, styles, embeddings, ...)."""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI

from sdstudio.core.samplers import SAMPLERS, SCHEDULES


def add_info_routes(app: FastAPI, library: Any) -> None:
    @app.get("/sdapi/v1/sd-models")
    def sd_models() -> list[dict[str, Any]]:
        return [
            {
                "title": e.title,
                "model_name": e.name,
                "hash": e.short_hash or None,
                "sha256": e.sha256 or None,
                "filename": e.location,
                "config": None,
            }
            for e in library.entries()
        ]

    @app.post("/sdapi/v1/refresh-checkpoints")
    def refresh_checkpoints() -> dict[str, Any]:
        library.refresh()
        return {}

    @app.get("/sdapi/v1/samplers")
    def samplers() -> list[dict[str, Any]]:
        return [
            {
                "name": s.name,
                "aliases": list(s.aliases),
                "options": {"scheduler": s.schedule.lower()} if s.schedule != "Automatic" else {},
            }
            for s in SAMPLERS.values()
        ]

    @app.get("/sdapi/v1/schedulers")
    def schedulers() -> list[dict[str, Any]]:
        """The schedule types this server runs, as A1111 1.9+ lists them."""
        return [
            {
                "name": label.lower().replace(" ", "_"),
                "label": label,
                "aliases": None,
                "default_rho": 7.0 if label == "Karras" else -1,
                "need_inner_model": False,
            }
            for label in SCHEDULES
        ]

    @app.get("/sdapi/v1/sd-vae")
    def sd_vae() -> list[dict[str, Any]]:
        from sdstudio.core.vae import vae_choices

        return [{"model_name": c.name, "filename": str(c.path)} for c in vae_choices(library)]

    @app.post("/sdapi/v1/refresh-vae")
    def refresh_vae() -> dict[str, Any]:
        library.refresh()
        return {}

    @app.get("/sdapi/v1/loras")
    def loras() -> list[dict[str, Any]]:
        from sdstudio.core.lora.catalog import api_metadata

        return [
            {"name": i.name, "alias": i.alias, "path": str(i.path), "metadata": api_metadata(i.metadata)}
            for i in library.loras.infos()
        ]

    @app.post("/sdapi/v1/refresh-loras")
    def refresh_loras() -> dict[str, Any]:
        library.refresh()
        return {}

    @app.get("/sdapi/v1/scripts")
    def script_list() -> dict[str, Any]:
        from sdstudio.api.scripts import SCRIPTS

        return {"txt2img": list(SCRIPTS), "img2img": list(SCRIPTS)}

    @app.get("/sdapi/v1/script-info")
    def script_info() -> list[Any]:
        return []

    @app.get("/sdapi/v1/prompt-styles")
    def prompt_styles() -> list[dict[str, Any]]:
        from sdstudio.core.prompt import all_styles

        try:
            styles = all_styles()
        except ValueError:  # a broken styles file: the built-in presets still serve
            from sdstudio.core.prompt import builtin_presets

            styles = builtin_presets()
        return [
            {"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
            for s in styles.values()
        ]

    from sdstudio.core.prompt.embeddings import EmbeddingCatalog

    catalog = EmbeddingCatalog(library.embedding_files)

    @app.get("/sdapi/v1/embeddings")
    def embeddings() -> dict[str, Any]:
        """A1111's shape: usable embeddings under "loaded" (vectors, width), unreadable ones under "skipped"."""
        loaded, skipped = {}, {}
        for name, shape in catalog.shapes().items():
            if shape is None:
                skipped[name] = {}
            else:
                loaded[name] = {
                    "step": None,
                    "sd_checkpoint": None,
                    "sd_checkpoint_name": None,
                    "shape": shape[1],
                    "vectors": shape[0],
                }
        return {"loaded": loaded, "skipped": skipped}

    @app.get("/sdapi/v1/cmd-flags")
    def cmd_flags() -> dict[str, Any]:
        return {"api": True, "nowebui": True, "listen": False}

    @app.get("/sdapi/v1/memory")
    def memory() -> dict[str, Any]:
        try:
            pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            pages = 0
        return {"ram": {"total": pages}, "cuda": {"error": "not reported"}}
