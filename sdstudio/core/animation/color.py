"""Colour coherence as Deforum's "Match Frame 0": each channel's histogram matched to the sample's,
in RGB, HSV or LAB (8-bit channels: LAB scaled as OpenCV does, L 0-255 and a/b offset by 128)."""

from __future__ import annotations

import numpy as np

MODES = ("RGB", "HSV", "LAB")


def _quantiles(channel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The levels present in a uint8 channel and their cumulative share."""
    counts = np.bincount(channel.ravel(), minlength=256)
    present = np.flatnonzero(counts)
    return present.astype(np.float64), np.cumsum(counts)[present] / channel.size


def _match(source: np.ndarray, ref: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    src_q = np.cumsum(np.bincount(source.ravel(), minlength=256)) / source.size
    lut = np.interp(src_q, ref[1], ref[0])
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)[source]


def match_channel(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Map `source` values so their cumulative histogram follows `reference`'s (uint8 channels)."""
    return _match(source, _quantiles(reference))


def match_histograms(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.stack([match_channel(image[..., c], reference[..., c]) for c in range(image.shape[-1])], -1)


# -- colour spaces on uint8 H×W×3 arrays --------------------------------------------------------------
def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """HSV with every channel 0-255 (Pillow's; hue 255 = 360°)."""
    from PIL import Image

    return np.asarray(Image.fromarray(rgb, "RGB").convert("HSV")).copy()


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(hsv, "HSV").convert("RGB")).copy()


_RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = np.array([0.950456, 1.0, 1.088754])
_TO_XYZ = (_RGB_TO_XYZ / _WHITE[:, None]).astype(np.float32)  # rows: X/Xn, Y/Yn, Z/Zn
_TO_RGB = (np.linalg.inv(_RGB_TO_XYZ) * _WHITE[None, :]).astype(np.float32)
_LEVELS = np.arange(256) / 255.0
_LINEAR = np.where(_LEVELS > 0.04045, ((_LEVELS + 0.055) / 1.055) ** 2.4, _LEVELS / 12.92).astype(np.float32)
_ENCODE_STEPS = 4096  # linear light → sRGB level, through a table
_ENCODE = np.arange(_ENCODE_STEPS + 1) / _ENCODE_STEPS
_ENCODE = np.rint(255 * np.where(_ENCODE > 0.0031308, 1.055 * _ENCODE ** (1 / 2.4) - 0.055, _ENCODE * 12.92))
_ENCODE = np.clip(_ENCODE, 0, 255).astype(np.uint8)


def _mix(m: np.ndarray, c0: np.ndarray, c1: np.ndarray, c2: np.ndarray) -> list[np.ndarray]:
    """A 3×3 matrix applied to three channel planes (plain multiply-adds: no BLAS threads)."""
    return [m[i, 0] * c0 + m[i, 1] * c1 + m[i, 2] * c2 for i in range(3)]


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    lin = _LINEAR[rgb]
    x, y, z = _mix(_TO_XYZ, lin[..., 0], lin[..., 1], lin[..., 2])
    fx, fy, fz = _f(x), _f(y), _f(z)
    lab_l = np.where(y > 0.008856, 116 * fy - 16, 903.3 * y)
    out = np.stack([lab_l * (255 / 100), 500 * (fx - fy) + 128, 200 * (fy - fz) + 128], -1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    x = lab.astype(np.float32)
    fy = (x[..., 0] * (100 / 255) + 16) / 116
    fx, fz = fy + (x[..., 1] - 128) / 500, fy - (x[..., 2] - 128) / 200

    def inv(f: np.ndarray) -> np.ndarray:
        return np.where(f > 0.206893, f * f * f, (f - 16 / 116) / 7.787)

    planes = _mix(_TO_RGB, inv(fx), inv(fy), inv(fz))
    idx = [np.rint(np.clip(p, 0, 1) * _ENCODE_STEPS).astype(np.int32) for p in planes]
    return np.stack([_ENCODE[i] for i in idx], -1)


_SPACES = {
    "RGB": (lambda x: x, lambda x: x),
    "HSV": (lambda x: rgb_to_hsv(x), lambda x: hsv_to_rgb(x)),
    "LAB": (lambda x: rgb_to_lab(x), lambda x: lab_to_rgb(x)),
}


class ColorMatcher:
    """Colour coherence against one sample (frame 0): its histograms are computed once, then each
    picture's channels are matched to them in the colour space `mode`."""

    def __init__(self, sample: np.ndarray, mode: str):
        if mode not in _SPACES:
            raise ValueError(f"color_coherence: {mode!r} is not supported; use None, {', '.join(MODES)}")
        self.mode = mode
        self._to, self._back = _SPACES[mode]
        converted = self._to(sample)
        self._reference = [_quantiles(converted[..., c]) for c in range(3)]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        converted = self._to(image)
        matched = np.stack([_match(converted[..., c], self._reference[c]) for c in range(3)], -1)
        return self._back(matched)


def match_colors(image: np.ndarray, sample: np.ndarray, mode: str) -> np.ndarray:
    """`image` (uint8 RGB) with each channel's histogram matched to `sample`'s in the colour space `mode`."""
    return ColorMatcher(sample, mode)(image)
