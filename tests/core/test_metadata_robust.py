"""Metadata readers take anything: arbitrary text, crafted chunks, bombs, truncated files.
The answer is a value or a RequestError (a clear 4xx at the API), never another exception."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from sdstudio.core.gallery.metadata import ImageParameters, parse_infotext, request_from_params
from sdstudio.core.gallery.reading import read_parameters
from sdstudio.core.request import ImageTooLarge, RequestError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
CHUNK_KEYS = ["parameters", "sdstudio", "invokeai_metadata", "prompt", "workflow", "Comment", "Description",
              "Software", "fooocus_scheme"]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
chunk_text = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.dictionaries(
        st.sampled_from(["request", "model_name", "parent", "class_type", "inputs", "steps", "seed", "uc"]),
        json_values,
    ).map(json.dumps),
    st.text(alphabet="0123456789x²³٣,: SizeSteps\n", max_size=60).map(lambda t: f"a cat\n{t}"),
)


def _png(chunks: dict[str, str], size: tuple[int, int] = (8, 8)) -> bytes:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value, zip=len(value) > 100)
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _raw_png(width: int, height: int, *extra: tuple[bytes, bytes]) -> bytes:
    """A PNG written chunk by chunk: headers may claim what they like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (3 * 8 + 1) * 8)
    parts = [
        chunk(b"IHDR", ihdr),
        *(chunk(k, d) for k, d in extra),
        chunk(b"IDAT", idat),
        chunk(b"IEND", b""),
    ]
    return b"\x89PNG\r\n\x1a\n" + b"".join(parts)


@FUZZ
@given(st.text(max_size=400))
def test_infotext_parser_takes_any_text(text: str) -> None:
    parsed = parse_infotext(text)
    assert isinstance(parsed["Prompt"], str)
    assert request_from_params(parsed).prompt == parsed["Prompt"]


@FUZZ
@given(st.dictionaries(st.sampled_from(["Size", "Steps", "Seed", "CFG scale", "Sampler", "Clip skip",
                                        "Denoising strength", "Prompt", "Model"]), json_values | st.text()))  # fmt: skip
def test_request_from_any_params(params: dict) -> None:
    assert request_from_params(params).width > 0


@FUZZ
@given(st.dictionaries(st.sampled_from(CHUNK_KEYS), chunk_text, max_size=4))
def test_any_chunks_give_a_value(chunks: dict[str, str]) -> None:
    params = read_parameters(_png(chunks))
    assert isinstance(params, ImageParameters) and params.tool


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_give_a_value_or_a_request_error(data: bytes) -> None:
    try:
        read_parameters(b"\x89PNG\r\n\x1a\n" + data)
    except RequestError as e:
        assert e.field == "image" and "not a readable image" in e.message


@pytest.mark.parametrize(
    ("chunks", "tool"),
    [
        ({"sdstudio": "null", "parameters": "x\nSteps: 3, Sampler: Euler, Seed: 4"}, "A1111"),
        ({"sdstudio": "[1, 2]"}, "unknown"),
        ({"sdstudio": '{"request": null}'}, "unknown"),
        ({"sdstudio": '{"request": {"mode": "sideways"}}'}, "unknown"),
        ({"invokeai_metadata": "not json"}, "unknown"),
        ({"invokeai_metadata": "[1]", "parameters": "cat\nSteps: 3, Sampler: Euler, Seed: 4"}, "A1111"),
        ({"Software": "NovelAI", "Comment": "[]", "Description": "x"}, "unknown"),
        ({"Software": "NovelAI", "Comment": "{not json", "Description": "x"}, "unknown"),
        ({"prompt": '{"1": {"class_type": "KSampler", "inputs": 5}}'}, "unknown"),
    ],
)
def test_crafted_chunks_fall_back_to_what_can_be_read(chunks: dict[str, str], tool: str) -> None:
    assert read_parameters(_png(chunks)).tool == tool


def test_odd_digits_and_a_looping_comfy_graph() -> None:
    p = read_parameters(_png({"parameters": "cat\nSteps: ³, Sampler: Euler, Seed: ٣, Size: ²x٣"}))
    assert (p.request.width, p.request.height, p.request.steps) == (512, 512, 20)
    loop = {
        "1": {"class_type": "KSampler", "inputs": {"positive": ["2", 0]}},
        "2": {"class_type": "Cond", "inputs": {"conditioning": ["3", 0]}},
        "3": {"class_type": "Cond", "inputs": {"conditioning": ["2", 0]}},
    }
    assert read_parameters(_png({"prompt": json.dumps(loop)})).tool == "ComfyUI"


def test_bombs_truncation_and_inflating_chunks() -> None:
    with pytest.raises(ImageTooLarge, match="pixels"):
        read_parameters(_raw_png(100_000, 100_000))
    with pytest.raises(RequestError, match="not a readable image"):
        read_parameters(_png({"parameters": "x"})[:-40])
    bomb = b"parameters\0\0" + zlib.compress(b"a" * (8 * 2**20), 9)  # 8 MiB of text in 8 KiB
    with pytest.raises(RequestError, match="not a readable image"):
        read_parameters(_raw_png(8, 8, (b"zTXt", bomb)))
    # a parameters line of a megabyte parses in linear time
    assert parse_infotext("p\n" + "a " * 500_000 + ";")["Prompt"].startswith("p\na a")
