"""Stand-in servers on 127.0.0.1: a plain file server (ranges, drops, auth), Civitai's API and the hub's file API."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from safetensors.numpy import save

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def lora_bytes(seed: int = 0, size: int = 16) -> bytes:
    """A tiny kohya-style LoRA (its key names are what detection reads)."""
    rng = np.random.default_rng(seed)
    base = "lora_unet_down_blocks_0_attentions_0_proj_in"
    return save(
        {
            f"{base}.lora_down.weight": rng.standard_normal((4, size)).astype(np.float32),
            f"{base}.lora_up.weight": rng.standard_normal((size, 4)).astype(np.float32),
            f"{base}.alpha": np.array(4.0, dtype=np.float32),
        }
    )


def checkpoint_bytes(seed: int = 0, pad: int = 0) -> bytes:
    """A stand-in SD 1.x checkpoint header (the UNet's first conv and the CLIP text embedding) plus `pad` floats."""
    rng = np.random.default_rng(seed)
    return save(
        {
            "model.diffusion_model.input_blocks.0.0.weight": rng.standard_normal((8, 4, 3, 3)).astype(
                np.float32
            ),
            "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": rng.standard_normal(
                (16, 8)
            ).astype(np.float32),
            "padding": rng.standard_normal((max(pad, 1),)).astype(np.float32),
        }
    )


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "JPEG")  # Civitai previews are often JPEG
    return out.getvalue()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Site:
    """What a stand-in server serves and how it misbehaves."""

    files: dict[str, bytes] = field(default_factory=dict)  # path -> content
    json: dict[str, object] = field(default_factory=dict)  # path -> JSON answer
    redirects: dict[str, str] = field(default_factory=dict)  # path -> absolute URL
    token: str = ""  # a Bearer token the paths in `private` need
    private: set[str] = field(default_factory=set)
    gated: set[str] = field(default_factory=set)  # hub paths answering 401 GatedRepo without the token
    drop_once: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before the first GET drops
    delay: float = 0.0  # seconds per 64 KiB sent (to pause mid-file)
    hub: bool = False  # answer HEAD like the hub (commit, linked etag/size)
    wrong_hash: set[str] = field(default_factory=set)  # paths whose published sha256 is not their content's
    seen: list[Seen] = field(default_factory=list)


def serve(site: Site) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _path(self) -> str:
            return self.path.split("?", 1)[0]

        def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _authorised(self, path: str) -> bool:
            return self.headers.get("Authorization", "") == f"Bearer {site.token}"

        def _handle(self) -> None:
            path = self._path()
            site.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
            if path in site.gated and not self._authorised(path):
                self._send(
                    401, b"gated", {"X-Error-Code": "GatedRepo", "X-Error-Message": "Access restricted"}
                )
                return
            if path in site.private and not self._authorised(path):
                self._send(401, b'{"error":"Unauthorized"}', {"Content-Type": "application/json"})
                return
            if path in site.redirects:
                self._send(302, b"", {"Location": site.redirects[path]})
                return
            if path in site.json:
                self._send(200, json.dumps(site.json[path]).encode(), {"Content-Type": "application/json"})
                return
            data = site.files.get(path)
            if data is None:
                self._send(404, b"not found", {"X-Error-Code": "EntryNotFound"} if site.hub else {})
                return
            self._file(path, data)

        def _file(self, path: str, data: bytes) -> None:
            sha = hashlib.sha256(b"other" if path in site.wrong_hash else data).hexdigest()
            headers = {
                "ETag": f'"{sha}"',
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
            if site.hub:
                headers |= {
                    "X-Repo-Commit": COMMIT,
                    "X-Linked-Etag": f'"{sha}"',
                    "X-Linked-Size": str(len(data)),
                }
            start = 0
            rng = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if_range = self.headers.get("If-Range")
            if rng and (if_range is None or if_range == headers["ETag"]):
                start = int(rng.group(1))
                if start >= len(data):
                    self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    return
            body = data[start:]
            self.send_response(206 if start else 200)
            for k, v in headers.items():
                self.send_header(k, v)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "HEAD":
                return
            cut = site.drop_once.pop(path, None) if self.command == "GET" else None
            if cut is not None:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            try:
                for i in range(0, len(body), 65536):
                    self.wfile.write(body[i : i + 65536])
                    if site.delay:
                        time.sleep(site.delay)
            except (BrokenPipeError, ConnectionResetError):  # the client paused or cancelled
                self.close_connection = True

        do_GET = _handle
        do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_port}{path}"


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}
