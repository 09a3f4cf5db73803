"""Frame interpolation for the video, model-free: between two rendered frames, N-1 in-betweens made by
optical flow (OpenCV's Farneback, both ways, each frame warped part of the way and the two cross-faded) or by
a plain cross-fade. The project's frames stay as rendered; only the encoded video gets the in-betweens."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

METHODS = ("flow", "blend")
MAX_FACTOR = 10


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow from a to b (pixel p of a is at p + flow[p] in b), Farneback on the grey pictures."""
    import cv2

    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
    levels = max(1, min(5, int(np.log2(max(8, min(a.shape[:2]))) - 3)))
    return cv2.calcOpticalFlowFarneback(
        ga,
        gb,
        None,
        pyr_scale=0.5,
        levels=levels,
        winsize=15,
        iterations=3,
        poly_n=5,
        poly_sigma=1.2,
        flags=0,
    )


def _warp(image: np.ndarray, flow: np.ndarray, amount: float) -> np.ndarray:
    """The picture moved `amount` of the way along `flow` (backward mapping, border replicated)."""
    import cv2

    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = xs - amount * flow[..., 0]
    map_y = ys - amount * flow[..., 1]
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def in_betweens(a: np.ndarray, b: np.ndarray, factor: int, method: str = "flow") -> list[np.ndarray]:
    """The factor-1 pictures between a and b (uint8 RGB, same size), at t = 1/factor, 2/factor, ..."""
    if factor <= 1:
        return []
    ts = [k / factor for k in range(1, factor)]
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    if method == "blend":
        return [np.clip(np.rint(fa * (1 - t) + fb * t), 0, 255).astype(np.uint8) for t in ts]
    if method != "flow":
        raise ValueError(f"unknown interpolation method {method!r}; use {', '.join(METHODS)}")
    ab, ba = _flow(a, b), _flow(b, a)
    out = []
    for t in ts:
        # the in-between seen from a (moved t of the way) and from b (moved back 1-t), cross-faded
        from_a = _warp(a, ab, t).astype(np.float32)
        from_b = _warp(b, ba, 1 - t).astype(np.float32)
        out.append(np.clip(np.rint(from_a * (1 - t) + from_b * t), 0, 255).astype(np.uint8))
    return out


def expand(frames: Iterable[np.ndarray], factor: int, method: str = "flow") -> Iterator[np.ndarray]:
    """Every frame, with factor-1 in-betweens after each but the last: n frames become (n-1)*factor+1."""
    previous: np.ndarray | None = None
    for frame in frames:
        if previous is not None:
            yield from in_betweens(previous, frame, factor, method)
        yield frame
        previous = frame


def expanded_count(n: int, factor: int) -> int:
    return (n - 1) * max(1, factor) + 1 if n else 0
