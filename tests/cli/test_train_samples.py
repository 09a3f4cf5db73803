"""`sdstudio train --sample-prompt ... --sample-every N`: the sample pictures go to the gallery during the run,
and `sdstudio lineage` names the LoRA run and step each one shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from sdstudio.cli import main


def test_train_puts_samples_in_the_gallery_and_lineage_names_the_step(
    demo_home: Path, sdstudio_home: Path, tmp_path: Path, capsys: Any
) -> None:
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.settings import Settings

    pictures = tmp_path / "ds" / "2_blue"
    pictures.mkdir(parents=True)
    for i in range(2):
        Image.new("RGB", (64, 64), (20, 40, 220)).save(pictures / f"{i}.png")
    out = tmp_path / "blue.safetensors"
    args = ["train", str(tmp_path / "ds"), "--model", "demo", "-o", str(out), "--steps", "2", "--rank", "4"]
    args += ["--resolution", "64", "--device", "cpu", "--sample-prompt", "a blue cup", "--sample-every", "1"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("sample: ") == 2 and "(trained LoRA blue step 1)" in err
    store = GalleryStore(Settings.load().outputs_path())
    try:
        records = store.search("cup")
        assert [r.origin for r in records] == ["trained LoRA blue step 2", "trained LoRA blue step 1"]
    finally:
        store.close()
    assert main(["lineage", records[0].path]) == 0
    shown = capsys.readouterr().out
    assert "a blue cup <lora:blue:1>" in shown and "trained LoRA blue step 2 (run " in shown
