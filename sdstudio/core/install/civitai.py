"""Civitai sources: model and version pages, download links and AIR ids, through Civitai's REST API.

The API key (settings' civitai_api_key, or CIVITAI_API_KEY) travels only in the Authorization header to Civitai's
own host; it is never put in a URL, a message or a log.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sdstudio.core.install.plan import InstallError, InstallPlan, RemoteFile, Sidecars
from sdstudio.core.install.transfer import get_bytes, get_json
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.models.entries import Kind

AUTH_HINT = "this model needs a Civitai login: put your Civitai API key in the settings (civitai_api_key)"
TYPES: dict[str, Kind] = {
    "checkpoint": Kind.checkpoint,
    "lora": Kind.lora,
    "locon": Kind.lora,
    "dora": Kind.lora,
    "lycoris": Kind.lora,
    "textualinversion": Kind.embedding,
    "vae": Kind.vae,
    "controlnet": Kind.controlnet,
    "upscaler": Kind.upscaler,
}
# A1111's extra-networks card names the family as "sd version"
SD_VERSIONS = {"SD 1": "SD1", "SD 2": "SD2", "SDXL": "SDXL", "Pony": "SDXL", "Illustrious": "SDXL"}
_AIR = re.compile(r"^(?:urn:air:[\w.-]+:[\w.-]+:)?civitai:(\d+)(?:@(\d+))?$", re.IGNORECASE)
PREVIEW_LIMIT = 32 * 2**20


def endpoint() -> str:
    return os.environ.get("CIVITAI_ENDPOINT", "https://civitai.com").rstrip("/")


def parse(text: str) -> tuple[int | None, int | None] | None:
    """(model id, version id) of a Civitai URL or AIR id; None when the text is not one."""
    text = text.strip()
    if m := _AIR.match(text):
        return int(m.group(1)), int(m.group(2)) if m.group(2) else None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        return None
    if parts.netloc not in {"civitai.com", "www.civitai.com", "civitai.green", urlsplit(endpoint()).netloc}:
        return None
    version = parse_qs(parts.query).get("modelVersionId", [""])[0]
    if m := re.match(r"^/(?:api/)?(?:download/)?models/(\d+)", parts.path):
        if "/download/" in parts.path:
            return None, int(m.group(1))  # /api/download/models/{versionId}
        return int(m.group(1)), int(version) if version.isdigit() else None
    if m := re.match(r"^/api/v1/models/(\d+)", parts.path):
        return int(m.group(1)), int(version) if version.isdigit() else None
    if m := re.match(r"^/api/v1/model-versions/(\d+)", parts.path):
        return None, int(m.group(1))
    raise InstallError(f"{text}: not a Civitai model or version address")


def api_key(settings_key: str) -> str:
    return settings_key or os.environ.get("CIVITAI_API_KEY", "")


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _pick_file(version: JsonObject) -> JsonObject:
    files = [f for f in version.get("files") or [] if isinstance(f, dict) and f.get("downloadUrl")]
    models = [f for f in files if f.get("type", "Model") in ("Model", "Pruned Model")] or files
    if not models:
        raise InstallError(f"Civitai version {version.get('id')}: it has no downloadable model file")

    def rank(f: JsonObject) -> tuple[int, int]:
        fmt = str((f.get("metadata") or {}).get("format", ""))
        return (
            0 if f.get("primary") else 1,
            0 if fmt == "SafeTensor" or str(f.get("name", "")).endswith(".safetensors") else 1,
        )

    return sorted(models, key=rank)[0]


def _text(description: str) -> str:
    """Civitai's HTML description as plain text for A1111's card."""
    text = re.sub(r"<br\s*/?>|</p>|</li>", "\n", description or "", flags=re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def plan(
    model_id: int | None, version_id: int | None, source: str, key: str, kind: Kind | None, name: str
) -> InstallPlan:
    """The version's main file (sha256 published by Civitai) and the sidecars A1111's extensions read."""
    base, headers = endpoint(), _headers(key)
    # 1. the version, and its model (type, description)
    if version_id is None:
        model = get_json(f"{base}/api/v1/models/{model_id}", headers, AUTH_HINT)
        versions = model.get("modelVersions") or []
        if not versions:
            raise InstallError(f"Civitai model {model_id}: it has no versions to download")
        version = versions[0]
    else:
        version = get_json(f"{base}/api/v1/model-versions/{version_id}", headers, AUTH_HINT)
        model_id = model_id or version.get("modelId")
        model = get_json(f"{base}/api/v1/models/{model_id}", headers, AUTH_HINT) if model_id else {}
    model_type = str(model.get("type") or (version.get("model") or {}).get("type") or "")
    found_kind = TYPES.get(model_type.lower())
    if kind is None and found_kind is None:
        raise InstallError(
            f"Civitai model {model_id} is a {model_type or 'model of unknown type'}, which sdstudio does not use; "
            "pass --kind to install it anyway"
        )
    # 2. the file to fetch
    chosen = _pick_file(version)
    filename = str(chosen.get("name") or f"civitai-{version.get('id')}.safetensors")
    if name:
        filename = name if Path(name).suffix else name + Path(filename).suffix
    sha = str((chosen.get("hashes") or {}).get("SHA256", "")).lower()
    size_kb = chosen.get("sizeKB")
    approx = int(float(size_kb) * 1024) if isinstance(size_kb, (int, float)) else None
    remote = RemoteFile(
        str(chosen["downloadUrl"]), filename, None, sha, kind or found_kind, "civitai", approx_size=approx
    )
    # 3. the sidecars: Civitai's version record, A1111's card, the first still picture
    info = dict(version)
    info.setdefault(
        "model", {"name": model.get("name"), "type": model_type, "nsfw": model.get("nsfw", False)}
    )
    base_model = str(version.get("baseModel") or "")
    sd_version = next((v for k, v in SD_VERSIONS.items() if base_model.startswith(k)), "Unknown")
    card = {
        "description": _text(str(model.get("description") or version.get("description") or "")),
        "sd version": sd_version,
        "activation text": ", ".join(str(w) for w in version.get("trainedWords") or []),
        "preferred weight": 0,
        "notes": f"{base}/models/{model_id}?modelVersionId={version.get('id')} ({base_model})",
    }
    images = [
        i for i in version.get("images") or [] if isinstance(i, dict) and i.get("type", "image") == "image"
    ]
    preview = str(images[0].get("url", "")) if images else ""
    title = f"{model.get('name') or filename} ({version.get('name') or version.get('id')})"
    return InstallPlan(source, title, (remote,), kind, Sidecars(info, card, preview))


def write_sidecars(model_file: Path, sidecars: Sidecars) -> list[str]:
    """name.civitai.info, name.json and name.preview.png beside the model; returns notes for what failed."""
    from sdstudio.core.metadata_io import atomic_write

    stem = model_file.with_suffix("")
    atomic_write(Path(f"{stem}.civitai.info"), json.dumps(sidecars.info, indent=2).encode("utf-8"))
    atomic_write(Path(f"{stem}.json"), json.dumps(sidecars.user_meta, indent=4).encode("utf-8"))
    if not sidecars.preview_url:
        return []
    try:
        data = get_bytes(sidecars.preview_url, PREVIEW_LIMIT)
        import io

        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            out = io.BytesIO()
            im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB").save(out, "PNG")
        atomic_write(Path(f"{stem}.preview.png"), out.getvalue())
    except (InstallError, OSError, ValueError) as e:
        return [f"no preview picture ({e})"]
    return []
