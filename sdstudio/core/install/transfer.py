"""Resumable HTTP downloads: ranges, retries after a dropped connection, pause and cancel, sha256 as it streams."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sdstudio import __version__
from sdstudio.core.install.layout import check_space
from sdstudio.core.install.plan import FileProgress, InstallError, Stopped
from sdstudio.core.jsontypes import JsonObject

if TYPE_CHECKING:
    from http.client import HTTPMessage
    from typing import IO


log = logging.getLogger(__name__)
CHUNK = 1 << 18
RETRIES = 5
TIMEOUT = 30.0
USER_AGENT = f"sdstudio/{__version__}"


class Control:
    """Pause/cancel flags a running transfer checks between chunks (set from any thread)."""

    def __init__(self) -> None:
        self._stop: str = ""
        self._lock = threading.Lock()

    def pause(self) -> None:
        with self._lock:
            self._stop = self._stop or "pause"

    def cancel(self) -> None:
        with self._lock:
            self._stop = "cancel"

    def clear(self) -> None:
        with self._lock:
            self._stop = ""

    @property
    def stopping(self) -> bool:
        return bool(self._stop)

    def check(self) -> None:
        if self._stop:
            raise Stopped(paused=self._stop == "pause")

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.check()
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))


class _NoAuthOnRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never carry credentials to another host (Civitai and the hub redirect to CDNs)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


_opener = urllib.request.build_opener(_NoAuthOnRedirect())


def display(url: str) -> str:
    """A URL fit for messages and logs: no query string (signed URLs, tokens)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def http_error(code: int, url: str, auth_hint: str = "") -> InstallError:
    where = display(url)
    if code in (401, 403):
        return InstallError(f"{where}: access denied (HTTP {code}){'; ' + auth_hint if auth_hint else ''}")
    if code == 404:
        return InstallError(f"{where}: not found (HTTP 404); check the address")
    return InstallError(f"{where}: the server answered HTTP {code}; try again later")


def _request(url: str, headers: dict[str, str], method: str = "GET") -> urllib.request.Request:
    return urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers}, method=method)


def get_json(url: str, headers: dict[str, str] | None = None, auth_hint: str = "") -> JsonObject:
    """GET a JSON object (an API answer); errors become one readable InstallError."""
    try:
        with _opener.open(_request(url, headers or {}), timeout=TIMEOUT) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raise http_error(e.code, url, auth_hint) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise InstallError(f"{display(url)}: cannot connect ({getattr(e, 'reason', e)})") from None
    except ValueError:
        raise InstallError(f"{display(url)}: the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise InstallError(f"{display(url)}: the answer is not a JSON object")
    return answer


def get_bytes(url: str, limit: int, headers: dict[str, str] | None = None) -> bytes:
    """A small download held in memory (preview pictures), at most `limit` bytes."""
    try:
        with _opener.open(_request(url, headers or {}), timeout=TIMEOUT) as resp:
            data = resp.read(limit + 1)
    except urllib.error.HTTPError as e:
        raise http_error(e.code, url) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise InstallError(f"{display(url)}: cannot connect ({getattr(e, 'reason', e)})") from None
    if len(data) > limit:
        raise InstallError(f"{display(url)}: larger than {limit} bytes")
    return data


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    size: int
    filename: str = ""  # from Content-Disposition ("" when the server gave none)


def _filename(headers: Message) -> str:
    return headers.get_filename() or ""


class _Meter:
    """Speed (smoothed) and ETA for progress reports, at most ten a second."""

    def __init__(self, report: Callable[[int, int | None, float, float | None], None] | None):
        self.report = report
        self.speed = 0.0
        self._last_t = time.monotonic()
        self._last_n: int | None = None
        self._last_report = 0.0

    def start(self, done: int) -> None:
        """A response begins streaming at `done` bytes (the first, or a resume after a drop)."""
        self._last_n, self._last_t = done, time.monotonic()

    def update(self, done: int, total: int | None, final: bool = False) -> None:
        now = time.monotonic()
        if self._last_n is None or done < self._last_n:
            self._last_n, self._last_t = done, now
        elif now - self._last_t >= (
            0.1 if self.speed else 0.01
        ):  # the first estimate as soon as it means anything
            rate = (done - self._last_n) / (now - self._last_t)
            self.speed = rate if self.speed == 0 else 0.7 * self.speed + 0.3 * rate
            self._last_n, self._last_t = done, now
        if self.report is not None and (final or now - self._last_report >= 0.1):
            self._last_report = now
            eta = (total - done) / self.speed if total is not None and self.speed > 0 else None
            self.report(done, total, self.speed, 0.0 if final else eta)


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    part.with_name(part.name + ".json").unlink(missing_ok=True)


def fetch(
    url: str,
    part: Path,
    *,
    headers: dict[str, str] | None = None,
    size: int | None = None,
    sha256: str = "",
    control: Control | None = None,
    on_progress: Callable[[FileProgress], None] | None = None,
    name: str = "",
    auth_hint: str = "",
) -> Fetched:
    """Download `url` into `part`, resuming what is there (HTTP Range with If-Range), and verify it.

    A dropped connection is retried from where it stopped; a pause keeps the partial file for the next call;
    a cancel, a wrong size or a wrong sha256 removes it. Credentials in `headers` never appear in messages.
    """
    control = control or Control()
    name = name or part.name
    meta_path = part.with_name(part.name + ".json")
    part.parent.mkdir(parents=True, exist_ok=True)
    meter = _Meter(
        (lambda d, t, s, e: on_progress(FileProgress(name, d, t, s, e))) if on_progress is not None else None
    )
    # 1. what is already there, if it came from the same URL
    digest, offset, validator, filename = hashlib.sha256(), 0, "", ""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    if part.exists() and meta.get("url") == url:
        validator, filename = meta.get("validator", ""), meta.get("filename", "")
        with open(part, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                offset += len(chunk)
    else:
        _discard(part)
    total = size
    failures = 0
    try:
        while True:
            control.check()
            # 2. ask for the rest
            extra = dict(headers or {})
            if offset:
                extra["Range"] = f"bytes={offset}-"
                if validator:
                    extra["If-Range"] = validator
            try:
                resp = _opener.open(_request(url, extra), timeout=TIMEOUT)
            except urllib.error.HTTPError as e:
                if e.code == 416 and offset and total == offset:
                    break  # it was all there
                if e.code == 416:
                    _discard(part)
                    digest, offset, validator = hashlib.sha256(), 0, ""
                    continue
                raise http_error(e.code, url, auth_hint) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
                failures += 1
                if failures > RETRIES:
                    raise InstallError(
                        f"{display(url)}: cannot connect ({getattr(e, 'reason', e)}); "
                        "install it again later to resume"
                    ) from None
                control.sleep(min(0.5 * 2**failures, 8))
                continue
            with resp:
                # 3. a 200 to a range request means the file changed or ranges are not served: start over
                if offset and resp.status != 206:
                    log.info("%s: the server does not resume here; starting again", display(url))
                    _discard(part)
                    digest, offset = hashlib.sha256(), 0
                length = resp.headers.get("Content-Length")
                crange = resp.headers.get("Content-Range", "")
                if "/" in crange and crange.rsplit("/", 1)[1].isdigit():
                    total = int(crange.rsplit("/", 1)[1])
                elif length and length.isdigit():
                    total = offset + int(length)
                if size is not None and total is not None and total != size:
                    raise InstallError(
                        f"{display(url)}: the server offers {total} bytes, {size} were expected; not installed"
                    )
                validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified") or ""
                filename = _filename(resp.headers) or filename
                meta_path.write_text(
                    json.dumps({"url": url, "validator": validator, "filename": filename}), encoding="utf-8"
                )
                if total is not None:
                    check_space(part.parent, total - offset)
                # 4. stream to the partial file; a dropped connection goes back to 2 with the new offset
                before = offset
                meter.start(offset)
                try:
                    with open(part, "ab") as f:
                        while chunk := resp.read(CHUNK):
                            f.write(chunk)
                            digest.update(chunk)
                            offset += len(chunk)
                            meter.update(offset, total)
                            control.check()
                except (OSError, http.client.HTTPException) as e:
                    failures = 0 if offset > before else failures + 1
                    if failures > RETRIES:
                        raise InstallError(
                            f"{display(url)}: the connection keeps dropping ({e}); install it again to resume"
                        ) from None
                    log.info("%s: connection dropped at %d bytes; resuming", display(url), offset)
                    control.sleep(0.2)
                    continue
            if total is not None and offset < total:
                failures += 1
                if failures > RETRIES:
                    raise InstallError(f"{display(url)}: the server keeps ending the file early")
                continue
            break
    except Stopped as stop:
        if not stop.paused:
            _discard(part)
        raise
    except InstallError:
        if not part.exists() or not offset:
            _discard(part)
        raise
    meter.update(offset, total, final=True)
    # 5. verify: size, then the published hash; a mismatch leaves nothing behind
    got = digest.hexdigest()
    if total is not None and offset != total:
        _discard(part)
        raise InstallError(f"{display(url)}: got {offset} bytes of {total}; the partial file was removed")
    if sha256 and got != sha256.lower():
        _discard(part)
        raise InstallError(
            f"{name}: sha256 mismatch (expected {sha256.lower()}, got {got}); "
            "the download was deleted and nothing was installed"
        )
    part.with_name(part.name + ".json").unlink(missing_ok=True)
    return Fetched(part, got, offset, filename)
