"""The request converters take anything a client can send: the answer is a Request or a 4xx-class error
(pydantic's validation, RequestError, ModelError), never another exception."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import ValidationError

from sdstudio.api import convert
from sdstudio.api.schemas import Img2ImgBody, Txt2ImgBody
from sdstudio.core.errors import ModelError
from sdstudio.core.request import Request, RequestError
from tests.api.conftest import LIMITS

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _png(size: tuple[int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["Euler", "Karras", "Exponential", "Polyexponential", "demo", "\ud800", "64", "abc"])
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)  # fmt: skip
images = st.sampled_from(
    [_png((64, 64)), _png((8, 8)), "data:image/png;base64,AAAA", "", "!!", _png((64, 64))[:60]]
)
option_names = st.sampled_from([*convert.OPTIONS, "unknown_option"])
FIELDS = {
    "prompt": values, "negative_prompt": values, "styles": values, "seed": values, "sampler_name": values,
    "scheduler": values, "batch_size": values, "n_iter": values, "steps": values, "cfg_scale": values,
    "width": st.sampled_from([64, 72, 65, 0, -8, 4096, 10**9]) | values, "height": values,
    "denoising_strength": values, "clip_skip": values, "subseed": values, "subseed_strength": values,
    "enable_hr": values, "hr_scale": values, "hr_upscaler": values, "script_name": values,
    "alwayson_scripts": values, "override_settings": st.dictionaries(option_names, values, max_size=3) | values,
    "init_images": st.lists(images, max_size=2) | values, "mask": images | values,
    "inpaint_full_res": values, "mask_blur": values,
}  # fmt: skip
bodies = st.fixed_dictionaries({}, optional=FIELDS)


@pytest.fixture(scope="module")
def resolve(demo_home: Path):
    """Checkpoint names looked up in a real library holding the demo model."""
    import os

    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.settings import Settings

    old = os.environ.get("SDSTUDIO_HOME")
    os.environ["SDSTUDIO_HOME"] = str(demo_home)
    library = ModelLibrary(Settings())
    yield lambda name: library.resolve(name, known_only=True).name
    if old is not None:
        os.environ["SDSTUDIO_HOME"] = old


def test_any_body_is_a_request_or_a_client_error(resolve) -> None:
    @FUZZ
    @given(bodies, st.booleans())
    def check(data: dict, img2img: bool) -> None:
        try:
            body = (Img2ImgBody if img2img else Txt2ImgBody).model_validate(data)
        except ValidationError:
            return  # FastAPI answers 422
        try:
            convert.warnings_for(body)
            request = convert.to_request(body, "", LIMITS, resolve)
        except (RequestError, ModelError):
            return  # 413 / 422
        assert isinstance(request, Request) and request.validate() is request

    check()


@FUZZ
@given(option_names, values)
def test_any_option_value_is_accepted_or_a_request_error(name: str, value: object) -> None:
    try:
        convert.check_option(name, value, "options")
    except RequestError as e:
        assert e.field == f"options.{name}"
