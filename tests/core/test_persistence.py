"""The studio's state on disk in one place: settings, autosaved parameters and canvas tools, versioned, with
layout 1 (prompt.json + the ini's [canvas] group) migrated on open."""

from __future__ import annotations

import json
from pathlib import Path

from sdstudio.core import schema
from sdstudio.core.persistence import (
    LAYOUT_VERSION,
    STATE_FILE,
    CanvasPrefs,
    StudioPaths,
    open_state,
)
from sdstudio.core.request import Request
from sdstudio.core.root import build_services
from sdstudio.core.settings import Settings

V1_INI = """[General]
foo=1

[window]
geometry=@ByteArray(\\x1\\xd9\\xd0\\xcb\\0\\x3)
state=@ByteArray(\\0\\0\\0\\xff\\0\\0)

[canvas]
brush_size=40
mask_color=Blue
"""


def test_layout_1_is_migrated_on_open(tmp_path: Path) -> None:
    paths = StudioPaths.under(tmp_path)
    paths.state_dir.mkdir(parents=True)
    (paths.state_dir / "canvas").mkdir()
    (paths.state_dir / "canvas" / "image.png").write_bytes(b"png")
    (paths.state_dir / "queue.json").write_text("[]")
    # version 1 wrote the parameters' schema document alone (and earlier ones the bare request dict)
    old = Request(prompt="a lighthouse", seed=7, steps=12, width=640, height=448).to_dict()
    (paths.state_dir / "prompt.json").write_text(json.dumps(old))
    paths.layout_file.parent.mkdir(parents=True)
    paths.layout_file.write_text(V1_INI)

    state = open_state(paths)

    assert state.parameters is not None
    assert (state.parameters.prompt, state.parameters.seed, state.parameters.steps) == ("a lighthouse", 7, 12)
    assert (state.parameters.width, state.parameters.height) == (640, 448)
    assert state.canvas == CanvasPrefs(brush_size=40, mask_color="Blue")
    doc = json.loads((paths.state_dir / STATE_FILE).read_text())
    assert doc["version"] == LAYOUT_VERSION == 2
    assert schema.load(doc["parameters"])[0] == state.parameters
    assert not (paths.state_dir / "prompt.json").exists()  # migrated, not left to be read twice
    assert (state.canvas_dir / "image.png").read_bytes() == b"png"  # the canvas and queue stay put
    assert state.queue_file.read_text() == "[]"
    again = open_state(paths)  # the migrated state reads back the same
    assert (again.parameters, again.canvas) == (state.parameters, state.canvas)


def test_state_round_trips_and_a_newer_or_damaged_one_is_set_aside(tmp_path: Path) -> None:
    paths = StudioPaths.under(tmp_path)
    state = open_state(paths)
    assert state.parameters is None and state.canvas == CanvasPrefs()
    assert not paths.state_dir.exists()  # nothing written until there is something to keep
    state.save_parameters(Request(prompt="fox", sampler="Euler a", cfg_scale=5.5))
    state.save_canvas(CanvasPrefs(24, "Green"))
    back = open_state(paths)
    assert back.parameters == state.parameters and back.canvas == CanvasPrefs(24, "Green")

    newer = {"version": LAYOUT_VERSION + 1, "parameters": None, "canvas": {}}
    (paths.state_dir / STATE_FILE).write_text(json.dumps(newer))
    assert open_state(paths).parameters is None
    assert json.loads((paths.state_dir / "state.unread.json").read_text()) == newer  # kept, not overwritten
    (paths.state_dir / STATE_FILE).write_text("{not json")
    assert open_state(paths).canvas == CanvasPrefs()


def test_settings_live_in_the_state_and_the_library_saves_them_there(tmp_path: Path) -> None:
    paths = StudioPaths.under(tmp_path / "portable")
    Settings(device="cpu").save(paths.settings_file)
    roots = tmp_path / "models"
    roots.mkdir()
    services = build_services(paths)
    try:
        assert services.settings is services.state.settings is services.library.settings
        services.library.add_root(roots)  # a setting the library changes is saved in the state's file
        assert Settings.load(paths.settings_file).model_roots == [str(roots.resolve())]
        assert Settings.load(paths.settings_file).device == "cpu"
        assert not Settings.default_path().exists()
    finally:
        services.close()
