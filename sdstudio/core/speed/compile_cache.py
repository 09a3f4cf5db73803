"""torch.compile's caches on disk in sdstudio's cache folder, so a second start of a model and size is warm."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from sdstudio.core import paths

log = logging.getLogger(__name__)
_ENV = "TORCHINDUCTOR_CACHE_DIR"
_lock = threading.Lock()
_USER_DIR = os.environ.get(_ENV)  # the user's own choice, read before sdstudio sets the variable itself


def cache_folder() -> Path:
    """Where compiled kernels live: the app's cache folder, or the user's own TORCHINDUCTOR_CACHE_DIR."""
    if _USER_DIR:
        return Path(_USER_DIR)
    return paths.data_dir() / "cache" / "torch-compile"


def use_disk_cache() -> Path:
    """Point inductor (FX graphs, AOT autograd, Triton kernels, autotuning) at the cache folder; before compiling."""
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    folder = cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[_ENV] = str(folder)  # read by inductor at its first compile in this process
    inductor_config.fx_graph_cache = True
    if hasattr(functorch_config, "enable_autograd_cache"):
        functorch_config.enable_autograd_cache = True
    return folder


class CompiledSizes:
    """The sizes compiled before, per model (a small JSON index beside the kernels): warm or cold start."""

    def __init__(self, folder: Path | None = None):
        self.path = (folder or cache_folder()) / "sdstudio-sizes.json"

    def _read(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def known(self, model: str, key: str) -> bool:
        return key in self._read().get(model, [])

    def add(self, model: str, key: str) -> None:
        from sdstudio.core.metadata_io import atomic_write

        with _lock:
            data = self._read()
            keys = data.setdefault(model, [])
            if key in keys:
                return
            keys.append(key)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(self.path, json.dumps(data, indent=1).encode("utf-8"))
            except OSError as e:  # the index only chooses a message; kernels are cached regardless
                log.warning("cannot record compiled size in %s: %s", self.path, e)
