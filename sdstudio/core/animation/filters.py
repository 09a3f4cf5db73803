"""What Deforum does to the warped frame before img2img: contrast, unsharp mask, noise (white or Perlin)."""

from __future__ import annotations

import math

import numpy as np


def contrast(image: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1.0:
        return image
    return np.clip(np.rint(image.astype(np.float64) * factor), 0, 255).astype(np.uint8)


def _gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    size = max(1, int(size) | 1)  # odd, as OpenCV requires
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for a kernel size
    x = np.arange(size) - size // 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def _blur(image: np.ndarray, size: int, sigma: float) -> np.ndarray:
    k = _gaussian_kernel(size, sigma)
    r = len(k) // 2
    k = k.astype(np.float32)
    x = np.pad(image.astype(np.float32), ((r, r), (r, r), (0, 0)), mode="reflect")
    x = sum(k[i] * x[i : i + image.shape[0]] for i in range(len(k)))
    return sum(k[i] * x[:, i : i + image.shape[1]] for i in range(len(k)))


def unsharp_mask(image: np.ndarray, kernel: int, sigma: float, amount: float, threshold: float) -> np.ndarray:
    """Deforum's sharpening: (1+amount)·image − amount·blurred, skipped where the detail is under threshold."""
    if amount == 0:
        return image
    blurred = _blur(image, kernel, sigma)
    sharp = np.clip(np.rint((amount + 1) * image.astype(np.float32) - amount * blurred), 0, 255).astype(
        np.uint8
    )
    if threshold > 0:
        low = np.abs(image - blurred) < threshold
        sharp = np.where(low, image, sharp)
    return sharp


def _perlin(shape: tuple[int, int], res: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    ry, rx = max(1, res[0]), max(1, res[1])
    y = (np.arange(h) * ry / h).astype(np.float32)
    x = (np.arange(w) * rx / w).astype(np.float32)
    iy, ix = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = (y - iy)[:, None], (x - ix)[None, :]
    angles = 2 * math.pi * rng.random((ry + 1, rx + 1), dtype=np.float32)
    gy, gx = np.sin(angles), np.cos(angles)

    def corner(dy: int, dx: int) -> np.ndarray:
        cy, cx = (iy + dy)[:, None], (ix + dx)[None, :]
        return gx[cy, cx] * (fx - dx) + gy[cy, cx] * (fy - dy)

    def fade(t: np.ndarray) -> np.ndarray:
        return 6 * t**5 - 15 * t**4 + 10 * t**3

    u, v = fade(fx), fade(fy)
    top = corner(0, 0) * (1 - u) + corner(0, 1) * u
    bottom = corner(1, 0) * (1 - u) + corner(1, 1) * u
    return math.sqrt(2) * (top * (1 - v) + bottom * v)


def perlin_octaves(
    shape: tuple[int, int], res: tuple[int, int], octaves: int, persistence: float, rng: np.random.Generator
) -> np.ndarray:
    noise = np.zeros(shape, np.float32)
    amplitude, frequency = 1.0, 1
    for _ in range(max(1, int(octaves))):
        noise += amplitude * _perlin(shape, (res[0] * frequency, res[1] * frequency), rng)
        frequency *= 2
        amplitude *= persistence
    return noise


PERLIN_SIDE = 256  # the Perlin field is computed at most this large, then resized smoothly


def _field_shape(h: int, w: int) -> tuple[int, int]:
    scale = min(1.0, PERLIN_SIDE / max(h, w))
    return max(8, round(h * scale)), max(8, round(w * scale))


def _resize(field: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image

    if field.shape == (h, w):
        return field
    return np.asarray(
        Image.fromarray(field.astype(np.float32), "F").resize((w, h), Image.Resampling.BILINEAR)
    )


def add_noise(
    image: np.ndarray,
    amount: float,
    seed: int,
    noise_type: str = "perlin",
    perlin: tuple[int, int, int, float] = (8, 8, 4, 0.5),
) -> np.ndarray:
    """Blend `amount` of seeded noise into the picture; Perlin noise modulates the white noise's strength."""
    if amount <= 0:
        return image
    rng = np.random.default_rng(seed)
    h, w, c = image.shape
    noise: np.ndarray = rng.standard_normal((h, w, c), dtype=np.float32)
    if noise_type == "perlin":
        pw, ph, octaves, persistence = perlin
        field = perlin_octaves(_field_shape(h, w), (int(ph), int(pw)), int(octaves), float(persistence), rng)
        field = _resize(field, w, h)
        noise = noise * ((field + 1.0) / 2.0)[..., None]
    elif noise_type != "uniform":
        raise ValueError(f"noise_type: {noise_type!r} is not supported; use uniform or perlin")
    noise_img = np.floor(np.clip(noise * 0.5 + 0.5, 0, 1) * 255)
    out = image.astype(np.float32) * (1 - amount) + noise_img * amount
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
