"""A hostile or careless client: every bad input a clear 4xx in A1111's error shape, nothing silently
dropped, limits that hold for chunked bodies, and nobody let in who should not be."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import struct
import zlib

import httpx
import pytest
from PIL import Image

from sdstudio.core.request import MAX_SEED
from tests.api.conftest import LIMITS, Live

SMALL = {"prompt": "x", "width": 64, "height": 64, "steps": 1, "seed": 1}


def _png_claiming(width: int, height: int) -> str:
    """A PNG whose header claims a size (a decompression bomb costs a few bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(raw).decode()


def _png(size: tuple[int, int] = (64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 20, 20)).save(buf, format="PNG")
    return buf.getvalue()


def _a1111_error(r: httpx.Response, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    data = r.json()
    assert {"error", "detail", "body", "errors"} <= set(data) and isinstance(data["error"], str)
    assert isinstance(data["detail"], str) and "\n" not in data["detail"] and "Traceback" not in r.text
    if field is not None:
        assert data["field"] == field and field.split(".")[-1] in data["detail"], data
    return data


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("txt2img", SMALL | {"override_settings": {"CLIP_stop_at_last_layers": "abc"}}, 422,
         "override_settings.CLIP_stop_at_last_layers"),
        ("txt2img", SMALL | {"override_settings": {"CLIP_stop_at_last_layers": 40}}, 422,
         "override_settings.CLIP_stop_at_last_layers"),
        ("txt2img", SMALL | {"override_settings": {"sd_model_checkpoint": 12345}}, 422,
         "override_settings.sd_model_checkpoint"),
        ("txt2img", SMALL | {"override_settings": {"sd_model_checkpoint": ["a"]}}, 422,
         "override_settings.sd_model_checkpoint"),
        ("options", {"sd_model_checkpoint": 12345}, 422, "options.sd_model_checkpoint"),
        ("options", {"CLIP_stop_at_last_layers": "abc"}, 422, "options.CLIP_stop_at_last_layers"),
        ("txt2img", SMALL | {"styles": ["no such style"]}, 422, "styles"),
        ("txt2img", SMALL | {"scheduler": "Polyexponential"}, 422, "scheduler"),
        ("txt2img", SMALL | {"sampler_name": "Euler a", "scheduler": "Karras"}, 422, "scheduler"),
        ("txt2img", SMALL | {"script_name": "no such script"}, 422, "script_name"),
        ("txt2img", SMALL | {"seed": MAX_SEED + 1}, 422, "seed"),
        ("img2img", SMALL | {"init_images": [_png_claiming(100_000, 100_000)]}, 413, "init_images"),
        ("img2img", SMALL | {"init_images": [base64.b64encode(_png()).decode()],
                             "mask": _png_claiming(30_000, 30_000)}, 413, "mask"),
        ("img2img", SMALL | {"init_images": [base64.b64encode(_png()[:-30]).decode()]}, 422, "init_images"),
        ("png-info", {"image": _png_claiming(100_000, 100_000)}, 413, "image"),
    ],
)  # fmt: skip
def test_bad_values_are_4xx_naming_the_field(
    live: Live, path: str, body: dict, status: int, field: str
) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as c:
        data = _a1111_error(c.post(f"/sdapi/v1/{path}", json=body), status, field)
        assert os.getcwd() not in data["detail"]  # a number is never looked up as a path
        assert c.get("/sdapi/v1/options").json()["sd_model_checkpoint"]  # the options stay as they were
    assert live.queue.jobs() == ()


def test_lone_surrogates_and_broken_json_are_422(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as c:
        raw = b'{"prompt": "a \\ud800 cat", "width": 64, "height": 64, "steps": 1}'
        data = _a1111_error(
            c.post("/sdapi/v1/txt2img", content=raw, headers={"content-type": "application/json"}), 422
        )
        assert data["field"] == "prompt" and "surrogate" in data["detail"]
        raw = b'{"prompt": "x", "override_settings": {"\\udfff": 1}}'
        _a1111_error(
            c.post("/sdapi/v1/txt2img", content=raw, headers={"content-type": "application/json"}), 422
        )
        _a1111_error(
            c.post("/sdapi/v1/txt2img", content=b"{not json", headers={"content-type": "application/json"}),
            422,
        )
        _a1111_error(c.get("/sdapi/v1/no-such-endpoint"), 404)  # fmt: skip


def test_png_info_reads_crafted_chunks_without_failing(live: Live) -> None:
    from PIL.PngImagePlugin import PngInfo

    with httpx.Client(base_url=live.url, timeout=60) as c:
        for chunks in ({"sdstudio": "null", "parameters": "cat\nSteps: 3, Sampler: Euler, Size: ²x3"},
                       {"invokeai_metadata": "[]"}, {"Software": "NovelAI", "Comment": "{x", "Description": "d"}):  # fmt: skip
            info = PngInfo()
            for k, v in chunks.items():
                info.add_text(k, v)
            buf = io.BytesIO()
            Image.new("RGB", (8, 8)).save(buf, format="PNG", pnginfo=info)
            r = c.post("/sdapi/v1/png-info", json={"image": base64.b64encode(buf.getvalue()).decode()})
            assert r.status_code == 200, r.text
        bomb = b"parameters\0\0" + zlib.compress(b"a" * (8 * 2**20), 9)
        buf = io.BytesIO(_png((8, 8)))
        raw = buf.getvalue()
        ztxt = struct.pack(">I", len(bomb)) + b"zTXt" + bomb + struct.pack(">I", zlib.crc32(b"zTXt" + bomb))
        crafted = raw[:33] + ztxt + raw[33:]  # after IHDR
        r = c.post("/sdapi/v1/png-info", json={"image": base64.b64encode(crafted).decode()})
        _a1111_error(r, 422, "image")


def test_what_is_not_implemented_is_said_and_save_images_false_saves_nothing(live: Live) -> None:
    body = SMALL | {
        "prompt": "not saved",
        "save_images": False,
        "restore_faces": True,
        "alwayson_scripts": {"ADetailer": {"args": []}},
        "override_settings": {"samples_format": "jpg"},
    }
    with httpx.Client(base_url=live.url, timeout=120) as c:
        r = c.post("/sdapi/v1/txt2img", json=body)
    assert r.status_code == 200 and len(r.json()["images"]) == 1
    warnings = json.loads(r.json()["info"])["warnings"]
    assert any(w.startswith("restore_faces: face restoration is not available") for w in warnings)
    assert any("alwayson_scripts" in w and "ADetailer" in w for w in warnings)
    assert any(w.startswith("override_settings.samples_format: not applied") for w in warnings)
    assert live.store.count("saved") == 0  # as A1111: save_images=false writes nothing to the gallery


def test_a1111_schedule_types_are_honoured(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=120) as c:
        out = {}
        for scheduler in ("Automatic", "Exponential", "SGM Uniform"):
            r = c.post(
                "/sdapi/v1/txt2img",
                json=SMALL | {"steps": 3, "sampler_name": "Euler", "scheduler": scheduler},
            )
            assert r.status_code == 200, r.text
            info = json.loads(r.json()["info"])
            assert info["scheduler"] == scheduler and info["sampler_name"] == "Euler"
            assert scheduler == "Automatic" or f"Schedule type: {scheduler}," in info["infotexts"][0]
            out[scheduler] = r.json()["images"][0]
    assert len(set(out.values())) == 3  # each schedule type changed the picture
    labels = [s["label"] for s in httpx.get(f"{live.url}/sdapi/v1/schedulers").json()]
    assert {"Automatic", "Uniform", "Karras", "Exponential", "SGM Uniform"} <= set(labels)


def test_seeds_up_to_2_64_minus_1(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=120) as c:
        r = c.post("/sdapi/v1/txt2img", json=SMALL | {"seed": MAX_SEED})
    assert r.status_code == 200 and json.loads(r.json()["info"])["all_seeds"] == [MAX_SEED]


def _raw_request(live: Live, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=30)
    sock.sendall(head.encode())
    return sock


def _status(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return int(data.split(b" ", 2)[1]), data


def test_a_chunked_80_mib_body_is_refused_413_without_being_read(live: Live) -> None:
    sock = _raw_request(
        live,
        f"POST /sdapi/v1/txt2img HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    piece = 2**20
    chunk = f"{piece:x}\r\n".encode() + b"x" * piece + b"\r\n"
    sent = 0
    try:
        while sent < 80 * piece:
            sock.sendall(chunk)
            sent += piece
    except OSError:  # the server answered and closed: the rest is never sent
        pass
    status, data = _status(sock)
    sock.close()
    assert status == 413 and b"PayloadTooLarge" in data
    assert sent < 80 * piece  # refused midway, not after buffering 80 MiB
    assert sent <= LIMITS.max_body_bytes + 32 * piece  # the limit plus what sockets buffer
    assert httpx.post(f"{live.url}/sdapi/v1/txt2img", json=SMALL, timeout=120).status_code == 200


def test_host_allow_list_and_cross_site_requests(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as c:
        _a1111_error(c.get("/sdapi/v1/options", headers={"host": "evil.example"}), 403)
        _a1111_error(c.get("/sdapi/v1/options", headers={"host": f"attacker.example:{live.port}"}), 403)
        assert c.get("/sdapi/v1/options", headers={"host": f"localhost:{live.port}"}).status_code == 200
        for path in ("interrupt", "skip", "refresh-checkpoints", "txt2img", "options"):
            r = c.post(f"/sdapi/v1/{path}", headers={"origin": "http://evil.example"}, json={})
            _a1111_error(r, 403)
            r = c.post(f"/sdapi/v1/{path}", content=b"{}", headers={"content-type": "text/plain"})
            _a1111_error(r, 415)
        own = c.post("/sdapi/v1/interrupt", headers={"origin": f"http://127.0.0.1:{live.port}"})
        assert own.status_code == 200 and c.post("/sdapi/v1/interrupt").status_code == 200


def test_auth_forms_files_and_environment(tmp_path) -> None:
    from sdstudio.api.security import CredentialsError, check_exposure, load_credentials, parse_credentials

    assert parse_credentials("artist:s3cret,bot:p:w") == {"artist": "s3cret", "bot": "p:w"}
    for bad in ("artist", "artist:", ":pw", "a:b,,:c", ""):
        with pytest.raises(CredentialsError):
            parse_credentials(bad)
    file = tmp_path / "auth.txt"
    file.write_text("artist:from-file\nbot:two\n")
    assert load_credentials(None, file, {}) == {"artist": "from-file", "bot": "two"}
    assert load_credentials(None, None, {"SDSTUDIO_API_AUTH": "a:env"}) == {"a": "env"}
    assert load_credentials("a:flag", file, {"SDSTUDIO_API_AUTH": "a:env"}) == {"a": "flag"}
    assert load_credentials(None, None, {}) is None
    check_exposure("127.0.0.1", None, False)
    check_exposure("0.0.0.0", None, True)
    check_exposure("0.0.0.0", {"a": "b"}, False)
    with pytest.raises(CredentialsError, match="--insecure"):
        check_exposure("0.0.0.0", None, False)


def test_serve_refuses_the_network_without_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    from sdstudio.cli import main

    assert main(["serve", "--host", "0.0.0.0", "--port", "7861"]) == 2
    assert "--insecure" in capsys.readouterr().err
    assert main(["serve", "--api-auth", "nopassword"]) == 2
    assert "USER:PASSWORD" in capsys.readouterr().err


def test_failed_logins_are_rate_limited(live_auth: Live) -> None:
    with httpx.Client(base_url=live_auth.url, timeout=60) as c:
        for _ in range(5):
            _a1111_error(c.get("/sdapi/v1/options", auth=("artist", "guess")), 401)
        r = c.get("/sdapi/v1/options", auth=("artist", "s3cret"))  # even the right password waits now
        _a1111_error(r, 429)
        assert 0 < int(r.headers["retry-after"]) <= 61
