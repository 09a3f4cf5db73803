"""One serializer with a schema version for a request and its extras: autosave, the PNG's JSON chunk, Reuse.

The document is `{"version": SCHEMA_VERSION, "request": {...}, **extras}`. A reader migrates older versions
(version 0: the bare request dict of early autosaves) and refuses newer ones with a readable `SchemaError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.request import InputImage, Request

SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """A document this version cannot read (newer schema, or not a request document)."""


def dump(request: Request, *, images: str = "sha256", **extras: object) -> JsonObject:
    """The request (inputs as hashes, or embedded with images="base64") and extras under the schema version."""
    return {"version": SCHEMA_VERSION, "request": request.to_dict(images=images), **extras}


def dumps(request: Request, *, images: str = "sha256", **extras: object) -> str:
    return json.dumps(dump(request, images=images, **extras), ensure_ascii=False)


def migrate(data: object) -> JsonObject:
    """The document at SCHEMA_VERSION; raises SchemaError for what this version cannot read."""
    if not isinstance(data, dict):
        raise SchemaError(f"not a request document (a {type(data).__name__})")
    if "version" not in data and "request" not in data:  # version 0: the request dict itself
        data = {"version": 1, "request": data}
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SchemaError(f"schema version {version!r} is not a number")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"written by a newer sdstudio (schema {version}); this one reads up to {SCHEMA_VERSION}"
        )
    if version < 1:
        raise SchemaError(f"schema {version} is unknown")
    if not isinstance(data.get("request"), dict):
        raise SchemaError("the document holds no request")
    return data


def load(
    data: object, resolve_image: Callable[[str], InputImage | None] | None = None
) -> tuple[Request, JsonObject]:
    """(request, extras) of a document; hash-only inputs are looked up with resolve_image."""
    doc = migrate(data)
    try:
        request = Request.from_dict(doc["request"], resolve_image=resolve_image)
    except (TypeError, ValueError, KeyError) as e:
        raise SchemaError(f"the request cannot be read ({e})") from None
    extras = {k: v for k, v in doc.items() if k not in ("version", "request")}
    return request, extras


def loads(
    text: str | bytes, resolve_image: Callable[[str], InputImage | None] | None = None
) -> tuple[Request, JsonObject]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise SchemaError(f"not JSON ({e})") from None
    return load(data, resolve_image)
