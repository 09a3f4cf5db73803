"""Colour coherence as Deforum's "Match Frame 0": each channel's histogram matched to the sample's,
in RGB, HSV or LAB (8-bit channels scaled as OpenCV does: H 0-180, L 0-255, a/b offset by 128)."""

from __future__ import annotations

import numpy as np

MODES = ("RGB", "HSV", "LAB")


def match_channel(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Map `source` values so their cumulative histogram follows `reference`'s (uint8 channels)."""
    src_counts = np.bincount(source.ravel(), minlength=256)
    ref_counts = np.bincount(reference.ravel(), minlength=256)
    src_q = np.cumsum(src_counts) / source.size
    ref_present = np.flatnonzero(ref_counts)
    ref_q = np.cumsum(ref_counts)[ref_present] / reference.size
    lut = np.interp(src_q, ref_q, ref_present.astype(np.float64))
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)[source]


def match_histograms(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.stack([match_channel(image[..., c], reference[..., c]) for c in range(image.shape[-1])], -1)


# -- colour spaces on uint8 H×W×3 arrays --------------------------------------------------------------
def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float64) / 255.0
    v = x.max(-1)
    c = v - x.min(-1)
    s = np.where(v > 0, c / np.where(v > 0, v, 1), 0)
    safe = np.where(c > 0, c, 1)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    h = np.where(v == r, (g - b) / safe, np.where(v == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    h = np.where(c > 0, (h * 60.0) % 360.0, 0.0)
    return np.clip(np.rint(np.stack([h / 2.0, s * 255, v * 255], -1)), 0, 255).astype(np.uint8)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    h = hsv[..., 0].astype(np.float64) * 2.0 / 60.0
    s, v = hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
    c = v * s
    x = c * (1 - np.abs(h % 2 - 1))
    m = v - c
    sector = np.floor(h).astype(int) % 6
    zeros = np.zeros_like(c)
    table = [(c, x, zeros), (x, c, zeros), (zeros, c, x), (zeros, x, c), (x, zeros, c), (c, zeros, x)]
    out = np.zeros(hsv.shape, np.float64)
    for i, (r, g, b) in enumerate(table):
        sel = sector == i
        out[sel] = np.stack([r[sel], g[sel], b[sel]], -1)
    return np.clip(np.rint((out + m[..., None]) * 255), 0, 255).astype(np.uint8)


_RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = np.array([0.950456, 1.0, 1.088754])


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.float64) / 255.0
    lin = np.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    xyz = lin @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    lab_l = np.where(xyz[..., 1] > 0.008856, 116 * f[..., 1] - 16, 903.3 * xyz[..., 1])
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.clip(np.rint(np.stack([lab_l * 255 / 100, a + 128, b + 128], -1)), 0, 255).astype(np.uint8)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    x = lab.astype(np.float64)
    lab_l = x[..., 0] * 100 / 255.0
    a, b = x[..., 1] - 128.0, x[..., 2] - 128.0
    fy = (lab_l + 16) / 116
    f = np.stack([fy + a / 500, fy, fy - b / 200], -1)
    xyz = np.where(f > 0.206893, f**3, (f - 16 / 116) / 7.787) * _WHITE
    lin = xyz @ np.linalg.inv(_RGB_TO_XYZ).T
    lin = np.clip(lin, 0, 1)
    x = np.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, lin * 12.92)
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def match_colors(image: np.ndarray, sample: np.ndarray, mode: str) -> np.ndarray:
    """`image` (uint8 RGB) with each channel's histogram matched to `sample`'s in the colour space `mode`."""
    if mode == "RGB":
        return match_histograms(image, sample)
    if mode == "HSV":
        return hsv_to_rgb(match_histograms(rgb_to_hsv(image), rgb_to_hsv(sample)))
    if mode == "LAB":
        return lab_to_rgb(match_histograms(rgb_to_lab(image), rgb_to_lab(sample)))
    raise ValueError(f"color_coherence: {mode!r} is not supported; use None, {', '.join(MODES)}")
