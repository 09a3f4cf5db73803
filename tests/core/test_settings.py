"""settings.json is validated: a wrong type is one message naming the key, never coerced or guessed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdstudio.cli import main
from sdstudio.core.settings import Settings, SettingsError


def test_a_valid_file_round_trips_and_unknown_keys_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    Settings(model_roots=["/opt/models"], vae_tiling=True, device="cpu").save(path)
    data = json.loads(path.read_text()) | {"from_a_newer_version": 3}
    path.write_text(json.dumps(data))
    assert Settings.load(path) == Settings(model_roots=["/opt/models"], vae_tiling=True, device="cpu")
    assert Settings.load(tmp_path / "missing.json") == Settings()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model_roots": "/opt/models"}, "'model_roots' must be a list of folder paths"),
        ({"model_roots": ["/a", 3]}, "'model_roots.1'"),
        ({"vae_tiling": "no"}, "'vae_tiling' must be true or false, not 'no'"),
        ({"cpu_offload": 1}, "'cpu_offload' must be true or false, not 1"),
        ({"outputs_dir": ["/tmp"]}, "'outputs_dir' must be a string"),
        ([1, 2], "expected a JSON object of settings, got list"),
    ],
)
def test_a_wrong_type_is_one_message_naming_the_key(tmp_path: Path, data: object, message: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SettingsError) as e:
        Settings.load(path)
    assert str(path) in str(e.value) and message in str(e.value) and "\n" not in str(e.value)


def test_the_command_line_reports_it_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = Settings.default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"model_roots": "/"}')  # once read as a root to scan, character by character
    assert main(["models"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sdstudio: error: ") and "'model_roots' must be a list" in err and "\n" not in err
