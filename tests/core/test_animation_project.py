"""The project folder: refuses to overwrite, checks disk space, and keeps its frames out of the gallery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdstudio.core.animation.project import Project, ProjectError
from sdstudio.core.animation.settings import AnimationSettings
from sdstudio.core.gallery import GalleryStore


def test_frames_of_a_project_are_not_gallery_pictures(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    project = Project(outputs / "animations" / "clip-animation")
    project.prepare(AnimationSettings(max_frames=2, seed=1), resume=False)
    for i in range(2):
        project.write_frame(i, np.zeros((64, 64, 3), np.uint8))
    project.write_thumbnail(np.zeros((64, 64, 3), np.uint8))
    Image.new("RGB", (8, 8)).save(outputs / "plain.png")
    store = GalleryStore(outputs, tmp_path / "index.sqlite3")
    try:
        store.rescan()
        assert store.count() == 1  # the plain picture only
    finally:
        store.close()


def test_prepare_refuses_a_foreign_folder_and_resolves_the_seed(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ProjectError, match="is not empty; use --resume"):
        Project(tmp_path / "busy").prepare(AnimationSettings(), resume=False)
    with pytest.raises(ProjectError, match="holds no animation to resume"):
        Project(tmp_path / "empty").prepare(AnimationSettings(), resume=True)
    saved = Project(tmp_path / "new").prepare(AnimationSettings(seed=-1), resume=False)
    assert saved.seed >= 0 and Project(tmp_path / "new").saved_settings() == saved


def test_disk_space_is_checked_before_start(tmp_path: Path) -> None:
    project = Project(tmp_path / "p")
    project.check_space(AnimationSettings(W=64, H=64), frames_left=10)  # fits
    with pytest.raises(ProjectError, match="not enough disk space"):
        project.check_space(AnimationSettings(W=4096, H=4096), frames_left=10**7)
