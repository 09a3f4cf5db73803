"""Frame interpolation: optical-flow in-betweens move a shape part of the way (a cross-fade only dims it), the
video gets (n-1)*x+1 frames at x times the rate, and the settings check and map Deforum's choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sdstudio.core.animation.encode import encode_animation
from sdstudio.core.animation.interpolate import expand, expanded_count, in_betweens
from sdstudio.core.animation.settings import AnimationSettings, SettingsError, settings_from_dict


def _square(x: int, size: int = 64) -> np.ndarray:
    """A soft-edged bright square at column x on a dark ground (texture for the flow)."""
    img = np.full((size, size, 3), 30, np.uint8)
    img[20:40, x : x + 20] = 220
    from PIL import ImageFilter

    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(1.5)))


def _centre_x(img: np.ndarray) -> float:
    w = img[..., 0].astype(np.float64) - 30
    w[w < 0] = 0
    return float((w.sum(axis=0) * np.arange(img.shape[1])).sum() / w.sum())


def test_flow_moves_the_square_part_of_the_way_and_blend_fades() -> None:
    a, b = _square(16), _square(26)
    (half,) = in_betweens(a, b, 2, "flow")
    assert abs(_centre_x(half) - (_centre_x(a) + _centre_x(b)) / 2) < 1.0
    # solid and sharp half way: dark just outside it on both sides, where a and b have their edges
    assert half[30, 18, 0] < 80 and half[30, 43, 0] < 80 and half[30, 30, 0] > 200
    (faded,) = in_betweens(a, b, 2, "blend")
    assert 100 < faded[30, 18, 0] < 150 and 100 < faded[30, 43, 0] < 150  # a cross-fade: half-bright ghosts
    thirds = in_betweens(a, b, 3, "flow")
    xs = [_centre_x(t) for t in thirds]
    assert xs[0] < xs[1] and abs(xs[0] - (_centre_x(a) + 10 / 3)) < 1.0
    frames = list(expand([a, b, a], 3))
    assert len(frames) == expanded_count(3, 3) == 7 and frames[3] is b


def test_the_video_gets_the_in_betweens_at_a_multiplied_rate(tmp_path: Path) -> None:
    paths = []
    for i, x in enumerate((10, 20, 30)):
        paths.append(tmp_path / f"{i:09d}.png")
        Image.fromarray(_square(x)).save(paths[-1])
    settings = AnimationSettings(W=64, H=64, fps=10, frame_interpolation=3)
    out = encode_animation(paths, tmp_path / "clip.gif", settings)
    with Image.open(out) as im:
        assert im.n_frames == 7 and abs(im.info["duration"] - 1000 / 30) < 5  # GIF keeps 10 ms steps
    plain = encode_animation(paths, tmp_path / "plain.gif", settings.replace(frame_interpolation=1))
    with Image.open(plain) as im:
        assert im.n_frames == 3 and im.info["duration"] == 100


def test_settings_check_the_factor_and_map_deforums_interpolation() -> None:
    with pytest.raises(SettingsError, match="frame_interpolation: 0"):
        AnimationSettings(frame_interpolation=0).validate()
    with pytest.raises(SettingsError, match="frame_interpolation_method"):
        AnimationSettings(frame_interpolation_method="rife").validate()
    loaded = settings_from_dict(
        {"frame_interpolation_engine": "RIFE v4.6", "frame_interpolation_x_amount": 3}
    )
    assert loaded.settings.frame_interpolation == 3
    assert any("optical flow" in n for n in loaded.notes)
    off = settings_from_dict({"frame_interpolation_engine": "None", "frame_interpolation_x_amount": 3})
    assert off.settings.frame_interpolation == 1
    ours = json.loads(AnimationSettings(frame_interpolation=2).to_json())
    assert settings_from_dict(ours).settings.frame_interpolation == 2
