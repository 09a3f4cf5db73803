"""OpenPose-style body maps from COCO keypoints, drawn as the A1111 ControlNet extension's openpose preprocessor
draws them: 18 points (COCO's 17 plus the neck between the shoulders), 17 limbs as filled ellipses of 4 px half
width in 60% of their colour, then each point as a filled circle of radius 4 in its full colour, on black."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sdstudio.core.jsontypes import JsonObject

if TYPE_CHECKING:
    import numpy as np


# OpenPose's point order: nose, neck, right shoulder/elbow/wrist, left shoulder/elbow/wrist, right hip/knee/ankle,
# left hip/knee/ankle, right eye, left eye, right ear, left ear; here each as its COCO index (None: the neck)
OPENPOSE_FROM_COCO: tuple[int | None, ...] = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
# limbs as pairs of OpenPose points, in the order (and so the colours) OpenPose uses
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip
STICK = 4  # a limb's half width and a point's radius, in pixels
Point = tuple[float, float] | None


def openpose_points(
    keypoints: Sequence[Sequence[float]], scores: Sequence[float], threshold: float
) -> list[Point]:
    """The 18 OpenPose points of one person from COCO-17 keypoints (x, y) and scores; None where a point's
    score is below `threshold` (the neck needs both shoulders)."""
    seen = [
        (float(keypoints[i][0]), float(keypoints[i][1])) if float(scores[i]) >= threshold else None
        for i in range(17)
    ]
    out: list[Point] = []
    for coco in OPENPOSE_FROM_COCO:
        if coco is not None:
            out.append(seen[coco])
            continue
        left, right = seen[5], seen[6]
        out.append(((left[0] + right[0]) / 2, (left[1] + right[1]) / 2) if left and right else None)
    return out


def draw_openpose(size: tuple[int, int], people: Sequence[Sequence[Point]]) -> np.ndarray:
    """An RGB uint8 map (H, W, 3) of (width, height) `size` with every person's limbs and points."""
    import cv2
    import numpy as np

    width, height = size
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    # 1. limbs first, in 60% of their colour
    for person in people:
        for (a, b), color in zip(LIMBS, COLORS, strict=False):
            pa, pb = person[a], person[b]
            if pa is None or pb is None:
                continue
            length = math.hypot(pb[0] - pa[0], pb[1] - pa[1])
            angle = math.degrees(math.atan2(pa[1] - pb[1], pa[0] - pb[0]))
            center = (int((pa[0] + pb[0]) / 2), int((pa[1] + pb[1]) / 2))
            polygon = cv2.ellipse2Poly(center, (int(length / 2), STICK), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, polygon, [int(c * 0.6) for c in color])
    # 2. then the points over them
    for person in people:
        for point, color in zip(person, COLORS, strict=True):
            if point is not None:
                cv2.circle(canvas, (int(point[0]), int(point[1])), STICK, color, thickness=-1)
    return canvas


def openpose_json(size: tuple[int, int], people: Sequence[Sequence[Point]]) -> JsonObject:
    """The people as OpenPose JSON (what A1111's /controlnet/detect returns as a pose): x, y, confidence each."""
    flat = [
        [v for p in person for v in ((p[0], p[1], 1.0) if p is not None else (0.0, 0.0, 0.0))]
        for person in people
    ]
    return {
        "people": [{"pose_keypoints_2d": f} for f in flat],
        "canvas_width": size[0],
        "canvas_height": size[1],
    }
