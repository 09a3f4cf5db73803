"""What the user typed, turned into an install plan: a local path, Civitai, the hub, or a plain URL."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sdstudio.core.install import civitai, hub, starters
from sdstudio.core.install.plan import InstallError, InstallPlan, RemoteFile
from sdstudio.core.models.entries import Kind
from sdstudio.core.settings import Settings

EXPECTED = (
    "expected a starter model (sdstudio models --starter), a hub id (owner/name), a hub file (owner/name/file.safetensors), a huggingface.co, civitai.com or "
    "https:// address, a Civitai AIR (urn:air:...:civitai:MODEL@VERSION), or a local file or folder"
)


def parse_kind(text: str | None) -> Kind | None:
    if not text:
        return None
    for k in Kind:
        if text.lower().replace("_", "-") in (k.value, k.name):
            return k
    raise InstallError(f"unknown kind {text!r} (one of: {', '.join(k.value for k in Kind)})")


def check_sha256(text: str) -> str:
    text = (text or "").strip().lower()
    if text and not re.fullmatch(r"[0-9a-f]{64}", text):
        raise InstallError(f"--sha256 must be 64 hex digits, got {text!r}")
    return text


def _with_user_hash(plan: InstallPlan, sha: str) -> InstallPlan:
    """The user's --sha256 checks the main file; a different published one is a refusal before any download."""
    if not sha or not plan.files:
        return plan
    first = plan.files[0]
    if first.sha256 and first.sha256 != sha:
        raise InstallError(
            f"--sha256 {sha} differs from the hash the source publishes ({first.sha256}); nothing was downloaded"
        )
    files = (RemoteFile(**{**first.__dict__, "sha256": sha}), *plan.files[1:])
    return InstallPlan(**{**plan.__dict__, "files": files})


def resolve(
    text: str,
    settings: Settings,
    *,
    kind: Kind | None = None,
    name: str = "",
    sha256: str = "",
    local: bool = True,
) -> InstallPlan:
    """A plan for SOURCE (network look-ups for the hub and Civitai; nothing is downloaded yet).

    local=False: never a path on this machine (installs asked for over HTTP).
    """
    text = (text or "").strip()
    sha = check_sha256(sha256)
    if name:
        name = Path(name).name  # a name, never a path
    if not text:
        raise InstallError(f"nothing to install: {EXPECTED}")
    # 1. a local file or folder
    path = Path(text).expanduser()
    if local and not urlsplit(text).scheme.startswith("http") and path.exists():
        return InstallPlan(text, name or path.name, kind=kind, local=path.resolve())
    # 2. a starter model by its id ("sd-turbo") or name
    if (starter := starters.find(text)) is not None:
        return _with_user_hash(starters.plan(starter), sha)
    # 3. Civitai (model or version pages, download links, AIR ids)
    if (ids := civitai.parse(text)) is not None:
        plan = civitai.plan(ids[0], ids[1], text, civitai.api_key(settings.civitai_api_key), kind, name)
        return _with_user_hash(plan, sha)
    # 4. the hub: a repo (a diffusers folder, into the cache) or one of its files
    if (ref := hub.parse(text)) is not None:
        repo, file, revision = ref
        if not file:
            return InstallPlan(text, name or repo.split("/")[-1], kind=kind or Kind.checkpoint, snapshot=repo)
        if name and not Path(name).suffix:
            name += Path(file).suffix
        remote = hub.file_plan(repo, file, revision, kind, name)
        return _with_user_hash(InstallPlan(text, f"{repo}: {file}", (remote,), kind), sha)
    # 5. any other web address
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc:
        filename = name or Path(unquote(parts.path)).name
        return InstallPlan(text, filename or text, (RemoteFile(text, filename, None, sha, kind),), kind)
    if parts.scheme:
        raise InstallError(f"{text}: only https:// and http:// addresses can be downloaded")
    raise InstallError(f"{text}: no such file, and not a source sdstudio knows ({EXPECTED})")
