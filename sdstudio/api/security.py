"""The API's front door, before any route runs: body size, Host allow-list, cross-site requests, Basic auth
with a failed-login limit. A plain ASGI middleware, so nothing is parsed or buffered before these checks."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

from sdstudio.api.errors import ApiError

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
AUTH_ENV = "SDSTUDIO_API_AUTH"
SIMPLE_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


class CredentialsError(ValueError):
    """Credentials in a form A1111 does not take, or with an empty user or password."""


def parse_credentials(text: str, source: str = "--api-auth") -> dict[str, str]:
    """A1111's `user:pass,user2:pass2` (commas or new lines); empty users or passwords are refused."""
    pairs: dict[str, str] = {}
    for item in text.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user.strip() or not password:
            raise CredentialsError(f"{source}: {item.split(':')[0]!r} needs USER:PASSWORD, both not empty")
        pairs[user.strip()] = password
    if not pairs:
        raise CredentialsError(f"{source}: no USER:PASSWORD given")
    return pairs


def load_credentials(
    flag: str | None, file: str | Path | None = None, env: MutableMapping[str, str] | None = None
) -> dict[str, str] | None:
    """Credentials from the flag, else a file, else $SDSTUDIO_API_AUTH (kept out of the process list)."""
    env = os.environ if env is None else env
    if flag is not None:
        return parse_credentials(flag)
    if file is not None:
        try:
            text = Path(file).expanduser().read_text(encoding="utf-8")
        except OSError as e:
            raise CredentialsError(f"--api-auth-file: cannot read {file} ({e.strerror or e})") from None
        return parse_credentials(text, str(file))
    if env.get(AUTH_ENV):
        return parse_credentials(env[AUTH_ENV], f"${AUTH_ENV}")
    return None


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, credentials: dict[str, str] | None, insecure: bool) -> None:
    """Binding beyond this machine needs credentials, or --insecure said out loud."""
    if not is_loopback(host) and not credentials and not insecure:
        raise CredentialsError(
            f"binding {host} would open the API to the network with no password; give --api-auth "
            f"(or --api-auth-file, or ${AUTH_ENV}), or --insecure to do it anyway"
        )


class FailedLogins:
    """Per client address: after `limit` failures within `window` seconds, refuse for `lockout` seconds."""

    def __init__(self, limit: int = 5, window: float = 60.0, lockout: float = 60.0, clock=time.monotonic):
        self.limit, self.window, self.lockout, self.clock = limit, window, lockout, clock
        self._failures: dict[str, list[float]] = {}

    def retry_after(self, client: str) -> float:
        """Seconds this client must wait; 0 when it may try."""
        now = self.clock()
        recent = [t for t in self._failures.get(client, ()) if now - t < max(self.window, self.lockout)]
        if len(recent) >= self.limit:
            return max(0.0, recent[-1] + self.lockout - now)
        return 0.0

    def failed(self, client: str) -> None:
        now = self.clock()
        if len(self._failures) > 10_000:  # bounded: forget the quiet ones
            self._failures = {k: v for k, v in self._failures.items() if now - v[-1] < self.window}
        recent = [t for t in self._failures.get(client, ()) if now - t < self.window]
        self._failures[client] = (recent + [now])[-self.limit :]

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        detail = f"request body is over {limit:,} bytes"
        super().__init__(413, "PayloadTooLarge", detail, headers={"connection": "close"})  # the rest unread


class Guard:
    """Checks every HTTP request in this order: declared body size, Host, cross-site POST, credentials;
    then counts the body as it streams in and stops it at the limit (chunked uploads included)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        allowed_hosts: Iterable[str] | None = LOOPBACK_HOSTS,
        allowed_origins: Iterable[str] = (),
        credentials: dict[str, str] | None = None,
        failures: FailedLogins | None = None,
    ):
        self.app, self.max_body = app, max_body
        self.hosts = None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        self.origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        self.credentials = {u.encode(): p.encode() for u, p in (credentials or {}).items()}
        self.failures = failures or FailedLogins()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, error, detail, extra = refusal
            await _reply(send, status, error, detail, extra)
            return
        await self.app(scope, self._counted(receive), send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str, dict] | None:
        # 1. a declared body over the limit: refused before anything is read
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            detail = f"request body is over {self.max_body:,} bytes"
            return 413, "PayloadTooLarge", detail, {"connection": "close"}
        # 2. Host allow-list (DNS rebinding: a web page's name pointed at this machine)
        host = _host_name(headers.get("host", ""))
        if self.hosts is not None and host not in self.hosts:
            return 403, "HostNotAllowed", f"Host {host!r} is not served here; use {sorted(self.hosts)[0]}", {}
        # 3. no cross-site "simple" request may change state
        if scope.get("method") == "POST":
            origin = headers.get("origin", "").rstrip("/").lower()
            own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
            if origin and origin != own and origin not in self.origins:
                return 403, "OriginNotAllowed", f"requests from {origin} are not allowed", {}
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if kind in SIMPLE_TYPES:
                return 415, "UnsupportedMediaType", "send JSON (Content-Type: application/json)", {}
        # 4. credentials, with a limit on failed tries per client
        if self.credentials:
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.failures.retry_after(client)
            if wait > 0:
                detail = f"too many failed logins; retry in {wait:.0f} s"
                return 429, "TooManyRequests", detail, {"retry-after": str(int(wait) + 1)}
            if not self._authorised(headers.get("authorization", "")):
                self.failures.failed(client)
                return 401, "Unauthorized", "Incorrect username or password", {"www-authenticate": "Basic"}
            self.failures.succeeded(client)
        return None

    def _authorised(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, _, password = given.partition(b":")
        expected = self.credentials.get(user, b"\0" * 32)
        return hmac.compare_digest(password, expected) and user in self.credentials

    def _counted(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        return counted


def _host_name(host: str) -> str:
    """The Host header without its port ("[::1]:7860" -> "[::1]")."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _reply(send: Send, status: int, error: str, detail: str, headers: dict[str, str]) -> None:
    content = json.dumps({"error": error, "detail": detail, "body": None, "errors": detail, "field": None})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content.encode()})
