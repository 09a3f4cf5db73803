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
    """Resample an H×W×C uint8 array through the forward `matrix`, bilinear, border replicate or wrap."""
    if border not in ("replicate", "wrap"):
        raise ValueError(f"border: {border!r} is not supported; use replicate or wrap")
    h, w = image.shape[:2]
    inv = np.linalg.inv(matrix)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    den = inv[2, 0] * xs + inv[2, 1] * ys + inv[2, 2]
    den = np.where(np.abs(den) < 1e-12, 1e-12, den)
    sx = (inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]) / den
    sy = (inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]) / den
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)

    def index(v: np.ndarray, n: int) -> np.ndarray:
        return np.mod(v, n) if border == "wrap" else np.clip(v, 0, n - 1)

    xa, xb, ya, yb = index(x0, w), index(x0 + 1, w), index(y0, h), index(y0 + 1, h)
    src = image.astype(np.float32)
    top = src[ya, xa] * (1 - fx) + src[ya, xb] * fx
    bottom = src[yb, xa] * (1 - fx) + src[yb, xb] * fx
    out = top * (1 - fy) + bottom * fy
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def warp(image: np.ndarray, motion: Motion2D, border: str = "replicate") -> np.ndarray:
    h, w = image.shape[:2]
    return warp_array(image, motion_matrix(w, h, motion), border)
