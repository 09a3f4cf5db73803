"""References named by URL: fetched from a stand-in server on 127.0.0.1 only when the settings allow network
access (the API needs its own setting too); wrong types, oversized answers, errors and timeouts are one clear
error before any work."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from sdstudio.core.control import parse_image_tags, unit_from_ref, units_from_tags
from sdstudio.core.control.fetch import FetchPolicy, fetch_reference
from sdstudio.core.request import InputImage, Request, RequestError
from sdstudio.core.settings import Settings


def _png(color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(out, "PNG")
    return out.getvalue()


# path -> (status, content type, body, seconds to wait before answering)
PAGES: dict[str, tuple[int, str, bytes, float]] = {
    "/hand.png": (200, "image/png", _png(), 0.0),
    "/other.png": (200, "image/png", _png((200, 0, 0)), 0.0),
    "/page.html": (200, "text/html; charset=utf-8", b"<html>not a picture</html>", 0.0),
    "/big.png": (200, "image/png", _png() + b"\0" * 4096, 0.0),
    "/big-undeclared.png": (200, "image/png", _png() + b"\0" * 4096, 0.0),
    "/broken.png": (200, "image/png", b"\x89PNG but not really", 0.0),
    "/slow.png": (200, "image/png", _png(), 2.0),
}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            status, kind, body, wait = PAGES.get(self.path, (404, "text/plain", b"missing", 0.0))
            time.sleep(wait)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            if "undeclared" not in self.path:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_url_references_are_fetched_only_when_allowed(server: str) -> None:
    _, tags = parse_image_tags(f"a hand {{image:{server}/hand.png:0.7:canny}}")
    assert tags[0].source == f"{server}/hand.png" and tags[0].weight == 0.7
    with pytest.raises(RequestError, match="network is off; allow network references"):
        units_from_tags(tags, [])
    (unit,) = units_from_tags(tags, [], network=FetchPolicy.from_settings(Settings(allow_network=True)))
    assert unit.image == InputImage.from_bytes(_png()) and (unit.module, unit.weight) == ("canny", 0.7)
    # the API's requests need api_allow_network as well
    api = FetchPolicy.from_settings(Settings(allow_network=True), api=True)
    with pytest.raises(RequestError, match="api_allow_network"):
        units_from_tags(tags, [], network=api)
    both = FetchPolicy.from_settings(Settings(allow_network=True, api_allow_network=True), api=True)
    assert units_from_tags(tags, [], network=both)[0].image == unit.image
    # the CLI's --ref takes an address as well
    ref = unit_from_ref(f"{server}/other.png:0.5:canny", network=FetchPolicy(True))
    assert ref.image == InputImage.from_bytes(_png((200, 0, 0))) and ref.weight == 0.5
    with pytest.raises(RequestError, match="network is off"):
        unit_from_ref(f"{server}/other.png:0.5:canny")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/page.html", "is text/html, not a picture"),
        ("/big.png", r"is 4,\d+ bytes, over the limit of"),
        ("/big-undeclared.png", "is over the limit of"),
        ("/broken.png", "not a readable image"),
        ("/nothing.png", "answered 404"),
        ("/slow.png", "did not answer within 0.5 s"),
    ],
)
def test_a_bad_url_reference_is_one_clear_error(server: str, path: str, message: str) -> None:
    policy = FetchPolicy(True, max_bytes=len(_png()) + 100, timeout=0.5)
    with pytest.raises(RequestError, match=message) as e:
        fetch_reference(f"{server}{path}", policy, "prompt {image:...}")
    assert e.value.field == "prompt {image:...}"
    with pytest.raises(RequestError, match="only http and https"):
        fetch_reference("ftp://127.0.0.1/x.png", policy, "prompt")


def test_the_engine_refuses_an_unreachable_reference_before_loading_anything(server: str) -> None:
    from sdstudio.core.control.extension import ApplyControlNet
    from sdstudio.core.models import ModelLibrary

    library = ModelLibrary(Settings(allow_network=True))
    request = Request(prompt=f"x {{image:{server}/gone.png:canny}}", width=64, height=64)
    with pytest.raises(RequestError, match="answered 404"):
        ApplyControlNet.for_request(request, library)
    # fetched: the next question is the ControlNet model
    request = Request(prompt=f"x {{image:{server}/other.png:canny}}", width=64, height=64)
    with pytest.raises(RequestError, match="name a ControlNet model"):
        ApplyControlNet.for_request(request, library)


def test_the_api_fetches_url_references_only_with_both_settings(server: str) -> None:
    from sdstudio.api.controlnet import check
    from sdstudio.core.models import ModelLibrary

    request = Request(prompt=f"x {{image:{server}/other.png:canny}}", width=64, height=64)
    with pytest.raises(RequestError, match="api_allow_network"):
        check(ModelLibrary(Settings(allow_network=True)), request)
    with pytest.raises(RequestError, match="name a ControlNet model"):  # fetched; no ControlNet here
        check(ModelLibrary(Settings(allow_network=True, api_allow_network=True)), request)
    with pytest.raises(RequestError, match="a file on the server"):
        check(
            ModelLibrary(Settings(allow_network=True, api_allow_network=True)),
            Request(prompt="{image:/etc/x}"),
        )
