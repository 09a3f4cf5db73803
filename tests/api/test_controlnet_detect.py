"""POST /controlnet/detect in the A1111 ControlNet extension's shape: pictures in, preprocessed maps out (canny
without a model, depth_anything and openpose with the tiny models of tests/core/test_control_preproc); bad input is
a 422 in the API's error shape; /controlnet/module_list lists the preprocessors with a model."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from sdstudio.api.app import create_app
from sdstudio.core.control import ControlUnit, preprocess
from sdstudio.core.control.annotators import Annotators, unload_all
from sdstudio.core.jobs import JobQueue
from sdstudio.core.models import ModelLibrary
from sdstudio.core.settings import Settings
from tests.core.test_control_preproc import tiny_depth_anything, tiny_vitpose


def _b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _image(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB")


@pytest.fixture
def picture() -> Image.Image:
    image = Image.new("RGB", (80, 64), "white")
    ImageDraw.Draw(image).rectangle((16, 12, 60, 50), outline="black", width=3)
    return image


def _client(library: ModelLibrary) -> TestClient:
    return TestClient(create_app(JobQueue(), library, allowed_hosts=("testserver",)))


def test_detect_returns_the_preprocessed_maps(tmp_path: Path, picture: Image.Image) -> None:
    settings = Settings()
    annotators = settings.library_path() / "models" / "annotators"
    tiny_depth_anything(annotators / "depth_anything")
    tiny_vitpose(annotators / "vitpose")
    unload_all()
    library = ModelLibrary(settings)
    client = _client(library)
    modules = client.get("/controlnet/module_list").json()["module_list"]
    assert {"none", "canny", "depth_anything", "openpose"} <= set(modules)

    body = {
        "controlnet_module": "canny",
        "controlnet_input_images": [_b64(picture), _b64(picture.rotate(90, expand=True))],
        "controlnet_processor_res": 64,
        "controlnet_threshold_a": 100,
        "controlnet_threshold_b": 200,
    }
    r = client.post("/controlnet/detect", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["info"] == "Success"
    first, second = (_image(t) for t in r.json()["images"])
    unit = ControlUnit(module="canny", processor_res=64, threshold_a=100, threshold_b=200)
    assert np.array_equal(np.asarray(first), np.asarray(preprocess(picture, unit, picture.size)))
    assert first.size == (80, 64) and second.size == (64, 80)

    for module in ("depth_anything", "openpose"):
        r = client.post("/controlnet/detect", json=body | {"controlnet_module": module})
        assert r.status_code == 200, r.text
        (out, _) = (_image(t) for t in r.json()["images"])
        unit = ControlUnit(module=module, processor_res=64)
        expected = preprocess(picture, unit, picture.size, Annotators(library, "cpu"))
        assert np.array_equal(np.asarray(out), np.asarray(expected))
        assert ("poses" in r.json()) == (module == "openpose")
    (pose, _) = r.json()["poses"]  # OpenPose JSON of the map: 18 points (x, y, confidence) per person
    assert (pose["canvas_width"], pose["canvas_height"]) == (80, 64)
    (person,) = pose["people"]
    assert len(person["pose_keypoints_2d"]) == 18 * 3


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"controlnet_module": "depth_midas"}, "controlnet_module", "unknown preprocessor 'depth_midas'"),
        ({"controlnet_input_images": []}, "controlnet_input_images", "no picture sent"),
        (
            {"controlnet_input_images": ["bm90IGEgcGljdHVyZQ=="]},
            "controlnet_input_images[0]",
            "not a readable",
        ),
        ({"controlnet_processor_res": 9000}, "controlnet_processor_res", "out of range"),
        ({"controlnet_module": "openpose"}, "controlnet_module", "needs a ViTPose model.*models/annotators"),
        ({"controlnet_processor_res": "big"}, "controlnet_processor_res", ""),
    ],
)
def test_bad_detect_input_is_a_422_in_the_api_error_shape(
    picture: Image.Image, change: dict[str, object], field: str, message: str
) -> None:
    client = _client(ModelLibrary(Settings()))
    body = {"controlnet_module": "canny", "controlnet_input_images": [_b64(picture)]} | change
    r = client.post("/controlnet/detect", json=body)
    assert r.status_code == 422, r.text
    answer = r.json()
    assert set(answer) >= {"error", "detail", "body", "errors"} and answer["field"] == field
    if message:
        assert re.search(message, answer["detail"]), answer["detail"]
