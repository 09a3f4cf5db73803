"""2D warp, colour coherence and noise on pictures with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sdstudio.core.animation import filters
from sdstudio.core.animation.color import hsv_to_rgb, lab_to_rgb, match_colors, rgb_to_hsv, rgb_to_lab
from sdstudio.core.animation.warp import Motion2D, motion_matrix, warp


def grid(size: int = 64, step: int = 8) -> np.ndarray:
    """Black picture with white lines every `step` pixels."""
    img = np.zeros((size, size, 3), np.uint8)
    img[::step] = 255
    img[:, ::step] = 255
    return img


def test_zoom_two_maps_lines_away_from_the_centre() -> None:
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, ::8] = 255  # vertical lines at x = 0, 8, ..., 56
    out = warp(img, Motion2D(zoom=2.0))
    # about the centre (32, 32): the source line at x=40 lands at 32 + 2*(40-32) = 48, x=24 at 16
    for x in (16, 32, 48):
        assert out[:, x].min() == 255, x
    for x in (20, 28, 36, 44):  # between lines stays black
        assert out[:, x].max() == 0, x


def test_zoom_below_one_replicates_the_border() -> None:
    img = np.zeros((32, 32, 3), np.uint8)
    img[:, -1] = 200  # the right edge column
    out = warp(img, Motion2D(zoom=0.5), "replicate")
    assert (out[:, -4:] == 200).all()  # outside the shrunk picture: the edge colour repeats
    wrapped = warp(img, Motion2D(zoom=0.5), "wrap")
    assert wrapped[:, -4:].max() == 0  # wrap tiles the picture: its black left side shows there


def test_translation_and_rotation_match_opencv_matrix() -> None:
    m = motion_matrix(64, 64, Motion2D(zoom=1.0, angle=90, translation_x=3))
    # OpenCV's getRotationMatrix2D(centre, 90°, 1) sends (x, y) to (y, 64 - x) about (32, 32), after +3 in x
    p = m @ np.array([10.0, 20.0, 1.0])
    assert np.allclose(p[:2] / p[2], [20, 64 - 13])
    img = np.zeros((64, 64, 3), np.uint8)
    img[20, 10] = 255
    out = warp(img, Motion2D(angle=90, translation_x=3))
    assert out[64 - 13, 20].max() >= 250


def test_identity_warp_is_exact_and_flip_at_rest_is_near_identity() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    assert (warp(img, Motion2D()) == img).all()
    m = motion_matrix(64, 48, Motion2D(flip=(0.0, 0.0, 0.0, 53.0)))
    for x, y in ((0, 0), (64, 48), (32, 24)):  # Deforum's flip at rest: within a pixel of the identity
        p = m @ np.array([x, y, 1.0])
        assert np.abs(p[:2] / p[2] - (x, y)).max() < 0.8


def test_perspective_flip_tilts_the_picture() -> None:
    img = grid(64, 8)
    out = warp(img, Motion2D(flip=(0.0, 30.0, 0.0, 53.0)))
    assert np.abs(out.astype(int) - img).mean() > 10


def _hist(channel: np.ndarray) -> np.ndarray:
    return np.cumsum(np.bincount(channel.ravel(), minlength=256)) / channel.size


@pytest.mark.parametrize("mode", ["RGB", "HSV", "LAB"])
def test_colour_coherence_pulls_colours_to_frame_zero(mode: str) -> None:
    rng = np.random.default_rng(1)
    sample = np.clip(rng.normal((200, 80, 40), 20, (64, 64, 3)), 0, 255).astype(np.uint8)  # warm
    drifted = np.clip(rng.normal((90, 110, 190), 25, (64, 64, 3)), 0, 255).astype(np.uint8)  # blue
    out = match_colors(drifted, sample, mode)
    before = np.abs(drifted.mean((0, 1)) - sample.mean((0, 1))).max()
    after = np.abs(out.mean((0, 1)) - sample.mean((0, 1))).max()
    assert after < before / 4, (mode, before, after)


def test_rgb_matching_reproduces_the_sample_histogram() -> None:
    rng = np.random.default_rng(2)
    sample = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    img = rng.integers(0, 128, (32, 32, 3), dtype=np.uint8)
    out = match_colors(img, sample, "RGB")
    for c in range(3):
        assert np.abs(_hist(out[..., c]) - _hist(sample[..., c])).max() < 0.05


def test_colour_space_round_trips() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.abs(hsv_to_rgb(rgb_to_hsv(img)).astype(int) - img).max() <= 8  # 8-bit hue
    lab_error = np.abs(lab_to_rgb(rgb_to_lab(img)).astype(int) - img)  # 8-bit LAB, as OpenCV's
    assert lab_error.mean() < 1.5 and lab_error.max() <= 16
    assert tuple(rgb_to_hsv(np.array([[[255, 0, 0]]], np.uint8))[0, 0]) == (0, 255, 255)
    assert tuple(rgb_to_lab(np.array([[[255, 255, 255]]], np.uint8))[0, 0]) == (255, 128, 128)


def test_noise_is_seeded_and_scaled_by_amount() -> None:
    img = np.full((64, 64, 3), 128, np.uint8)
    a = filters.add_noise(img, 0.1, seed=7)
    assert (a == filters.add_noise(img, 0.1, seed=7)).all()
    assert not (a == filters.add_noise(img, 0.1, seed=8)).all()
    strong = filters.add_noise(img, 0.5, seed=7, noise_type="uniform")
    assert np.abs(strong.astype(int) - 128).mean() > np.abs(a.astype(int) - 128).mean()
    assert (filters.add_noise(img, 0.0, seed=7) == img).all()


def test_contrast_and_unsharp_mask() -> None:
    img = np.full((16, 16, 3), 100, np.uint8)
    assert (filters.contrast(img, 1.5) == 150).all()
    assert (filters.contrast(img, 3.0) == 255).all()  # clipped, not wrapped round
    edge = np.zeros((16, 16, 3), np.uint8)
    edge[:, 8:] = 100
    sharp = filters.unsharp_mask(edge, 5, 1.0, 1.0, 0)
    assert sharp[:, 8].min() > 100 and sharp[:, 7].max() == 0  # overshoot on the bright side of the edge
