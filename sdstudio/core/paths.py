"""Where sdstudio keeps its files. SDSTUDIO_HOME puts everything under one folder (tests, portable installs)."""

from __future__ import annotations

import os
from pathlib import Path

APP = "sdstudio"


def _home() -> Path | None:
    home = os.environ.get("SDSTUDIO_HOME")
    return Path(home) if home else None


def data_dir() -> Path:
    """Demo model, gallery index, caches."""
    if home := _home():
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def config_dir() -> Path:
    if home := _home():
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def default_outputs_dir() -> Path:
    if home := _home():
        return home / "outputs"
    import platformdirs

    return Path(platformdirs.user_pictures_dir()) / APP


def resources_dir() -> Path:
    """The bundled resources: the repo's resources/ in a checkout, the packaged copy when installed."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parents[1] / "resources", here.parent / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("sdstudio resources folder not found; the installation is incomplete")
