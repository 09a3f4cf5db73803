"""Styles: built-in negative presets and the user's styles file (A1111 styles.csv format)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from sdstudio.core import paths
from sdstudio.core.request import RequestError

FILE_NAME = "styles.csv"


@dataclass(frozen=True)
class Style:
    """A named prompt/negative pair; `{prompt}` in a part marks where the user's text goes."""

    name: str
    prompt: str = ""
    negative_prompt: str = ""


_BUILTIN = (
    Style(
        "hands",
        negative_prompt="bad hands, unnatural hands, extra fingers, fused fingers, bent fingers, bad anatomy",
    ),
    Style(
        "faces",
        negative_prompt="deformed face, asymmetric eyes, cross-eyed, bad teeth, disfigured, ugly",
    ),
    Style(
        "anatomy",
        negative_prompt="bad anatomy, extra limbs, missing limbs, extra arms, extra legs, malformed limbs, "
        "long neck",
    ),
    Style("quality", negative_prompt="lowres, worst quality, low quality, jpeg artifacts, blurry"),
    Style("text", negative_prompt="text, watermark, signature, logo, username"),
)


def builtin_presets() -> dict[str, Style]:
    return {s.name: s for s in _BUILTIN}


def styles_path() -> Path:
    return paths.config_dir() / FILE_NAME


def _read_csv(text: str, source: str) -> dict[str, Style]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "name" not in [f.strip().lower() for f in reader.fieldnames]:
        raise ValueError(f"{source}: not a styles file; the first row must be name,prompt,negative_prompt")
    out: dict[str, Style] = {}
    for row in reader:
        row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
        name = row.get("name", "").strip()
        if name:
            out[name] = Style(name, row.get("prompt", ""), row.get("negative_prompt", ""))
    return out


def load_styles(path: Path | None = None) -> dict[str, Style]:
    """The user's styles (empty when the file does not exist yet)."""
    path = Path(path) if path is not None else styles_path()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return {}
    return _read_csv(text, str(path))


def all_styles(path: Path | None = None) -> dict[str, Style]:
    """Built-in presets, then the user's styles (a user style may replace a preset of the same name)."""
    return {**builtin_presets(), **load_styles(path)}


def save_styles(styles: dict[str, Style], path: Path | None = None) -> None:
    from sdstudio.core.metadata_io import atomic_write

    path = Path(path) if path is not None else styles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "prompt", "negative_prompt"])
    for s in styles.values():
        w.writerow([s.name, s.prompt, s.negative_prompt])
    atomic_write(path, buf.getvalue().encode("utf-8"))


def import_a1111_styles(csv_path: Path, path: Path | None = None) -> list[str]:
    """Merge an A1111 styles.csv into the user's styles file; returns the imported names."""
    try:
        text = Path(csv_path).read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ValueError(f"{csv_path}: cannot read the styles file: {e.strerror}") from None
    new = _read_csv(text, str(csv_path))
    merged = {**load_styles(path), **new}
    save_styles(merged, path)
    return list(new)


def _place(template: str, text: str) -> str:
    if not template:
        return text
    if "{prompt}" in template:
        return template.replace("{prompt}", text)
    if not text:
        return template
    return text.rstrip().rstrip(",") + ", " + template


def apply_styles(
    prompt: str, negative: str, names: tuple[str, ...] | list[str], path: Path | None = None
) -> tuple[str, str]:
    """Apply styles in order; an unknown name raises RequestError listing the known ones."""
    if not names:
        return prompt, negative
    try:
        known = all_styles(path)
    except ValueError as e:
        raise RequestError("styles", f"{e}; fix or remove the file") from None
    for name in names:
        style = known.get(name)
        if style is None:
            raise RequestError(
                "styles", f"unknown style {name!r}; known styles: {', '.join(sorted(known)) or 'none'}"
            )
        prompt = _place(style.prompt, prompt)
        negative = _place(style.negative_prompt, negative)
    return prompt, negative
