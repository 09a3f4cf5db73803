"""References named by URL (`{image:https://...}`): fetched only when the settings allow network access (for the
API only when the API setting allows it too), over http(s), with a size limit, picture content types only and a
timeout; whatever goes wrong is one RequestError naming the tag, before any work."""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sdstudio import __version__
from sdstudio.core.request import InputImage, RequestError

if TYPE_CHECKING:
    from sdstudio.core.settings import Settings

CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp")
MAX_BYTES = 20 * 2**20
TIMEOUT = 15.0
RECENT_SECONDS = 60.0  # a URL fetched this recently (the API's check, then its job) is not fetched again
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


@dataclass(frozen=True)
class FetchPolicy:
    """Whether and how references may be fetched from the network."""

    allowed: bool = False
    max_bytes: int = MAX_BYTES
    timeout: float = TIMEOUT
    off_hint: str = "allow network references (Tools menu in the window, or allow_network in settings.json)"

    @classmethod
    def from_settings(cls, settings: Settings, api: bool = False) -> FetchPolicy:
        """The user's choice: `allow_network`; for API requests `api_allow_network` as well."""
        if api and not (settings.allow_network and settings.api_allow_network):
            hint = (
                "the server allows it only with allow_network and api_allow_network both on in its settings"
            )
            return cls(False, off_hint=hint)
        return cls(bool(settings.allow_network))


def is_url(text: str) -> bool:
    return bool(_URL.match(text))


_recent: dict[str, tuple[float, InputImage]] = {}
_recent_lock = threading.Lock()


def fetch_reference(url: str, policy: FetchPolicy, what: str) -> InputImage:
    """The picture at `url`, read whole (decoded to check it); RequestError(what, ...) when not allowed,
    unreachable, not a picture or too big."""
    # 1. allowed at all, and a scheme we speak
    if not policy.allowed:
        raise RequestError(
            what, f"fetching references from the network is off; {policy.off_hint}, or save the picture and "
            "name its file",
        )  # fmt: skip
    if not url.lower().startswith(("http://", "https://")):
        raise RequestError(what, f"{url}: only http and https addresses are fetched")
    with _recent_lock:
        hit = _recent.get(url)
        if hit is not None and time.monotonic() - hit[0] < RECENT_SECONDS:
            return hit[1]
    # 2. the answer's headers: status, type and declared size
    request = urllib.request.Request(url, headers={"User-Agent": f"sdstudio/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=policy.timeout) as answer:
            kind = (answer.headers.get_content_type() or "").lower()
            if kind not in CONTENT_TYPES:
                raise RequestError(what, f"{url} is {kind or 'of no declared type'}, not a picture")
            declared = answer.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                raise RequestError(
                    what, f"{url} is {_size(int(declared))}, over the limit of {_size(policy.max_bytes)}"
                )
            # 3. the body, never more than the limit
            data = answer.read(policy.max_bytes + 1)
    except urllib.error.HTTPError as e:
        raise RequestError(what, f"{url} answered {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise RequestError(what, f"{url} did not answer within {policy.timeout:g} s") from None
        raise RequestError(what, f"cannot fetch {url} ({reason})") from None
    except TimeoutError:
        raise RequestError(what, f"{url} did not answer within {policy.timeout:g} s") from None
    except OSError as e:
        raise RequestError(what, f"cannot fetch {url} ({e})") from None
    if len(data) > policy.max_bytes:
        raise RequestError(what, f"{url} is over the limit of {_size(policy.max_bytes)}")
    # 4. a picture Pillow reads
    try:
        image = InputImage.from_bytes(data, what)
    except RequestError as e:
        raise RequestError(what, f"{url} is {e.message}") from None
    with _recent_lock:
        for old in [u for u, (t, _) in _recent.items() if time.monotonic() - t >= RECENT_SECONDS]:
            del _recent[old]
        if len(_recent) < 32:
            _recent[url] = (time.monotonic(), image)
    return image


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n:,} bytes"
