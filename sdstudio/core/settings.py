"""The settings file: model roots, default model, outputs folder, device preferences (JSON, atomic writes)."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sdstudio.core import paths
from sdstudio.core.jsontypes import JsonObject

log = logging.getLogger(__name__)


class SettingsError(ValueError):
    """settings.json holds a value of the wrong type or shape; the message names the key and the fix."""


@dataclass
class Settings:
    model_roots: list[str] = field(default_factory=list)  # A1111 / ComfyUI installs or plain folders
    default_model: str = ""  # "" = the demo model when nothing else is there
    outputs_dir: str = ""  # "" = the platform's pictures folder / sdstudio
    device: str = ""  # "" = automatic (cuda, mps, cpu)
    dtype: str = ""  # "" = automatic (float16 on GPUs, float32 on CPU)
    vae_tiling: bool = False
    cpu_offload: bool = False
    # torch's CPU threads; 0 = the physical cores this process may use (OMP_NUM_THREADS wins)
    cpu_threads: int = 0
    taesd: bool = (
        False  # TAESD (madebyollin/taesd, taesdxl) for sharp previews, and decoding on the fast path
    )
    api_on_start: bool = False
    library_dir: str = ""  # "" = the data folder's library/ (where installed models go, A1111 layout)
    civitai_api_key: str = ""  # sent to Civitai only, never logged
    api_install: bool = False  # POST /sdstudio/v1/models/install (needs API auth as well)
    models_prompt_done: bool = False  # the first-start "get a real model" prompt was answered
    vae_by_model: dict[str, str] = field(default_factory=dict)  # model location -> VAE name (A1111 sd_vae)
    allow_network: bool = False  # fetch {image:URL} references, and preprocessor models from the hub
    api_allow_network: bool = False  # the same for API requests (needs allow_network as well)

    @staticmethod
    def default_path() -> Path:
        return paths.config_dir() / "settings.json"

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        """Read the settings; a missing file gives defaults, an unreadable one is reported and set aside,
        a value of the wrong type raises SettingsError naming the key (never guessed or coerced)."""
        path = path or cls.default_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as e:
            log.warning("settings file %s is unreadable (%s); using defaults", path, e)
            return cls()
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: object, source: str = "settings") -> Settings:
        """Validated settings from plain JSON data; unknown keys are ignored (older/newer versions)."""
        from pydantic import TypeAdapter, ValidationError

        if not isinstance(data, dict):
            raise SettingsError(f"{source}: expected a JSON object of settings, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        try:
            return TypeAdapter(cls).validate_json(json.dumps(known), strict=True)
        except ValidationError as e:
            first = e.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise SettingsError(
                f"{source}: {key!r} {_expected(cls, str(first['loc'][0]))}, not {first['input']!r}"
            ) from None

    def save(self, path: Path | None = None) -> None:
        from sdstudio.core.metadata_io import atomic_write

        path = path or self.default_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(self.to_dict(), indent=2).encode("utf-8"))

    def to_dict(self) -> JsonObject:
        return dataclasses.asdict(self)

    def library_path(self) -> Path:
        """The folder installed models go to (A1111 layout: models/Stable-diffusion, models/Lora, ...)."""
        return Path(self.library_dir).expanduser() if self.library_dir else paths.data_dir() / "library"

    def outputs_path(self) -> Path:
        return Path(self.outputs_dir).expanduser() if self.outputs_dir else paths.default_outputs_dir()


def _expected(cls: type, name: str) -> str:
    """What a field takes, in words."""
    kind = {f.name: f.type for f in dataclasses.fields(cls)}.get(name, "")
    return {
        "list[str]": 'must be a list of folder paths, e.g. ["/opt/models"]',
        "str": "must be a string",
        "bool": "must be true or false",
        "int": "must be a whole number",
    }.get(str(kind), f"must be {kind}")
