"""Shared fixtures: every test runs with its own SDSTUDIO_HOME; the demo model is built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdstudio.core.models import ModelLibrary
from sdstudio.core.settings import Settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared SDSTUDIO_HOME holding the built demo models (built once per test session/worker)."""
    home = tmp_path_factory.getbasetemp() / "demo-home"
    old = os.environ.get("SDSTUDIO_HOME")
    os.environ["SDSTUDIO_HOME"] = str(home)
    try:
        from sdstudio.core import demo

        demo.demo_path()
        demo.demo_path(inpaint=True)
    finally:
        if old is None:
            os.environ.pop("SDSTUDIO_HOME", None)
        else:
            os.environ["SDSTUDIO_HOME"] = old
    return home


@pytest.fixture(autouse=True)
def sdstudio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """Each test gets an empty SDSTUDIO_HOME; tests that need the demo model link the shared build in."""
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    if "demo_home" in request.fixturenames:
        shared = request.getfixturevalue("demo_home")
        (home / "data" / "models").symlink_to(shared / "data" / "models", target_is_directory=True)
    monkeypatch.setenv("SDSTUDIO_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def cpu_engine(demo_home: Path):
    """One CPU engine per test module on the demo model, warmed up (64x64, one step)."""
    from sdstudio.core.engine import Engine
    from sdstudio.core.request import Request

    old = os.environ.get("SDSTUDIO_HOME")
    os.environ["SDSTUDIO_HOME"] = str(demo_home)
    try:
        eng = Engine(ModelLibrary(Settings.load()), device="cpu")
        eng.run(Request(prompt="warm up", steps=1, width=64, height=64, seed=0))
        yield eng
        eng.close()
    finally:
        if old is None:
            os.environ.pop("SDSTUDIO_HOME", None)
        else:
            os.environ["SDSTUDIO_HOME"] = old
