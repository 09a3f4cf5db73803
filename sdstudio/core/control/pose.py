"""The `openpose` preprocessor from a transformers pose model: ViTPose (VitPoseForPoseEstimation) finds COCO's
17 keypoints of each person box, drawn as the OpenPose body map (skeleton.py). ViTPose is top-down: the boxes come
from a transformers person detector when the annotators folder has one, else the whole picture is one person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdstudio.core.control.skeleton import Point, draw_openpose, openpose_points
from sdstudio.core.errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

    from sdstudio.core.control.annotators import Annotators, Loaded
    from sdstudio.core.control.unit import ControlUnit

KEYPOINT_THRESHOLD = 0.3  # a keypoint drawn needs at least this score (as DWPose's)
PERSON_THRESHOLD = 0.3  # a detector's person box kept needs at least this score


@dataclass(frozen=True)
class Person:
    """One person's COCO-17 keypoints (x, y in the picture's pixels) and their scores."""

    keypoints: tuple[tuple[float, float], ...]
    scores: tuple[float, ...]

    def points(self, threshold: float = KEYPOINT_THRESHOLD) -> list[Point]:
        """The 18 OpenPose points above threshold."""
        return openpose_points(self.keypoints, self.scores, threshold)


def person_boxes(image: Image, annotators: Annotators) -> list[list[float]]:
    """People's boxes as COCO (x, y, width, height): the detector's, or the whole picture without one."""
    detector = annotators.optional("detector")
    if detector is None:
        return [[0.0, 0.0, float(image.width), float(image.height)]]
    return _detect_people(image, detector)


def _detect_people(image: Image, detector: Loaded) -> list[list[float]]:
    import torch

    model = detector.model
    inputs = detector.processor(images=image, return_tensors="pt")
    with detector.lock, torch.inference_mode():
        outputs = model(**{k: v.to(model.device) for k, v in inputs.items()})
    found = detector.processor.post_process_object_detection(
        outputs, target_sizes=[(image.height, image.width)], threshold=PERSON_THRESHOLD
    )[0]
    labels = {int(k): str(v).lower() for k, v in model.config.id2label.items()}
    boxes = []
    for label, box in zip(found["labels"].tolist(), found["boxes"].tolist(), strict=True):
        if labels.get(int(label)) == "person":
            x0, y0, x1, y1 = box
            boxes.append([x0, y0, x1 - x0, y1 - y0])
    return boxes


def estimate_people(image: Image, annotators: Annotators) -> list[Person]:
    """Every person's keypoints in a PIL picture."""
    import torch

    image = image.convert("RGB")
    boxes = person_boxes(image, annotators)
    if not boxes:
        return []
    loaded = annotators.get("pose")
    model = loaded.model
    # 1. each box cut out and warped to the model's input size by its processor
    inputs = loaded.processor(images=image, boxes=[boxes], return_tensors="pt")
    pixels = inputs["pixel_values"].to(model.device, model.dtype)
    # 2. heatmaps -> keypoints in the picture's coordinates
    with loaded.lock, torch.inference_mode():
        extra = {"dataset_index": torch.zeros(len(boxes), dtype=torch.long, device=model.device)}
        moe = int(getattr(model.config.backbone_config, "num_experts", 1) or 1) > 1  # ViTPose+: 0 is COCO
        outputs = model(pixel_values=pixels, **(extra if moe else {}))
    found = loaded.processor.post_process_pose_estimation(outputs, boxes=[boxes])[0]
    if found and len(found[0]["keypoints"]) != 17:
        raise ModelError(
            f"pose model {loaded.source} finds {len(found[0]['keypoints'])} keypoints; the openpose "
            "preprocessor needs a COCO body model (17 keypoints), e.g. usyd-community/vitpose-base-simple"
        )
    people = []
    for person in found:
        xy = person["keypoints"].float().cpu().tolist()
        scores = person["scores"].float().cpu().tolist()
        inside = [0 <= x < image.width and 0 <= y < image.height for x, y in xy]
        kept = tuple(
            s if ok else 0.0 for s, ok in zip(scores, inside, strict=True)
        )  # off the picture: unseen
        people.append(Person(tuple((x, y) for x, y in xy), kept))
    return people


def openpose_map(image: Image, unit: ControlUnit, annotators: Annotators) -> np.ndarray:
    """The OpenPose body map (H, W, 3) of a PIL picture."""
    people = estimate_people(image, annotators)
    return draw_openpose(image.size, [p.points() for p in people])
