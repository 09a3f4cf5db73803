"""Deforum's 2D motion: zoom and rotate about the transform centre, translate, optional perspective flip.

The matrix is Deforum's (OpenCV's rotation matrix times a translation, then the flip); the picture is
resampled bilinearly in numpy with the border replicated or wrapped, as OpenCV's warpPerspective does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Motion2D:
    """One frame's 2D motion; angles in degrees, translation in pixels, centre as a fraction of the size."""

    zoom: float = 1.0
    angle: float = 0.0
    translation_x: float = 0.0
    translation_y: float = 0.0
    center_x: float = 0.5
    center_y: float = 0.5
    flip: tuple[float, float, float, float] | None = None  # perspective flip theta, phi, gamma, fv


def _rotation(angles_deg: tuple[float, float, float]) -> np.ndarray:
    phi, gamma, theta = (math.radians(a) for a in angles_deg)
    rx, ry, rz = np.eye(4), np.eye(4), np.eye(4)
    rx[1, 1] = rx[2, 2] = math.cos(phi)
    rx[1, 2], rx[2, 1] = -math.sin(phi), math.sin(phi)
    ry[0, 0] = ry[2, 2] = math.cos(gamma)
    ry[0, 2], ry[2, 0] = math.sin(gamma), -math.sin(gamma)
    rz[0, 0] = rz[1, 1] = math.cos(theta)
    rz[0, 1], rz[1, 0] = -math.sin(theta), math.sin(theta)
    return rx @ ry @ rz


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3×3 projective map taking 4 points `src` to `dst` (each 4×2)."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (u, v)) in enumerate(zip(src, dst, strict=True)):
        a[2 * i] = (x, y, 1, 0, 0, 0, -u * x, -u * y)
        a[2 * i + 1] = (0, 0, 0, x, y, 1, -v * x, -v * y)
        b[2 * i], b[2 * i + 1] = u, v
    h = np.linalg.solve(a, b)
    return np.append(h, 1.0).reshape(3, 3)


def flip_matrix(width: int, height: int, theta: float, phi: float, gamma: float, fv: float) -> np.ndarray:
    """Deforum's perspective flip: the picture's plane turned in 3D and seen through a camera of field fv°."""
    half = math.radians(fv / 2.0)
    d = math.hypot(width, height)
    side = d / math.cos(half)
    h = d / (2.0 * math.sin(half))
    near, far = h - d / 2.0, h + d / 2.0
    t = np.eye(4)
    t[2, 3] = -h
    p = np.eye(4)
    p[0, 0] = p[1, 1] = 1.0 / math.tan(half)
    p[2, 2] = -(far + near) / (far - near)
    p[2, 3] = -(2.0 * far * near) / (far - near)
    p[3, 2] = -1.0
    f = p @ t @ _rotation((phi, gamma, theta))
    corners = np.array(
        [
            [-width / 2, height / 2],
            [width / 2, height / 2],
            [width / 2, -height / 2],
            [-width / 2, -height / 2],
        ]
    )
    pts = np.c_[corners, np.zeros(4), np.ones(4)] @ f.T
    projected = pts[:, :2] / pts[:, 3:4]
    m = homography(corners + [width / 2, height / 2], (projected + 1.0) * (0.5 * side))
    post = np.array([[1, 0, (width - side) / 2], [0, 1, (height - side) / 2], [0, 0, 1]])
    return m @ post


def motion_matrix(width: int, height: int, motion: Motion2D) -> np.ndarray:
    """The forward 3×3 map (source pixel → output pixel) of one frame's motion."""
    cx, cy = width * motion.center_x, height * motion.center_y
    a = motion.zoom * math.cos(math.radians(motion.angle))
    b = motion.zoom * math.sin(math.radians(motion.angle))
    rot = np.array([[a, b, (1 - a) * cx - b * cy], [-b, a, b * cx + (1 - a) * cy], [0, 0, 1]])
    trans = np.array([[1, 0, motion.translation_x], [0, 1, motion.translation_y], [0, 0, 1]])
    m = rot @ trans
    if motion.flip is not None:
        m = flip_matrix(width, height, *motion.flip) @ m
    return m


def warp_array(image: np.ndarray, matrix: np.ndarray, border: str = "replicate") -> np.ndarray:
    """Resample an H×W×C uint8 array through the forward `matrix`, bilinear, border replicate or wrap.

    Pillow's perspective transform does the sampling; the picture is first padded (edge or wrap) by as much
    as the motion reaches outside it, so the border behaves as OpenCV's BORDER_REPLICATE / BORDER_WRAP.
    """
    from PIL import Image

    if border not in ("replicate", "wrap"):
        raise ValueError(f"border: {border!r} is not supported; use replicate or wrap")
    h, w = image.shape[:2]
    inv = np.linalg.inv(matrix)
    # 1. where the output's corners come from: the padding needed around the source
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], dtype=np.float64)
    src = corners @ inv.T
    src = src[:, :2] / src[:, 2:3]
    reach = max(0.0, -src.min(), (src[:, 0] - (w - 1)).max(), (src[:, 1] - (h - 1)).max())
    pad = int(min(math.ceil(reach) + 2, 4 * max(w, h)))
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge" if border == "replicate" else "wrap")
    # 2. Pillow samples at pixel centres (+0.5) in the padded picture: shift the inverse map to match
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    to_src = np.array([[1, 0, pad + 0.5], [0, 1, pad + 0.5], [0, 0, 1]]) @ inv @ np.linalg.inv(shift)
    to_src = to_src / to_src[2, 2]
    out = Image.fromarray(padded).transform(
        (w, h), Image.Transform.PERSPECTIVE, tuple(to_src.ravel()[:8]), Image.Resampling.BILINEAR
    )
    return np.asarray(out).copy()


def warp(image: np.ndarray, motion: Motion2D, border: str = "replicate") -> np.ndarray:
    h, w = image.shape[:2]
    return warp_array(image, motion_matrix(w, h, motion), border)
