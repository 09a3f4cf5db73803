"""Training pictures as kohya's sd-scripts lay them out: captions beside pictures, `N_concept` repeat folders,
aspect-ratio buckets (no squashing), and bad files reported once and skipped."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sdstudio.core.request import RequestError

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MIN_SIDE = 64
MAX_PIXELS = 64_000_000  # a bigger picture is refused, not decoded (a decompression bomb or a mistake)
_REPEATS = re.compile(r"^(\d+)_(.+)$")


@dataclass(frozen=True)
class Item:
    """One training picture: its file, caption, how often an epoch repeats it, and its size."""

    path: Path
    caption: str
    repeats: int
    width: int
    height: int


@dataclass(frozen=True)
class Dataset:
    items: tuple[Item, ...]
    skipped: tuple[tuple[Path, str], ...] = ()  # (file, why) for each picture left out
    tag_frequency: dict[str, dict[str, int]] = field(default_factory=dict)  # kohya's ss_tag_frequency

    @property
    def epoch_length(self) -> int:
        """Pictures seen per epoch (repeats counted)."""
        return sum(i.repeats for i in self.items)


def scan_dataset(folder: Path, trigger: str = "", template: str = "") -> Dataset:
    """The pictures under `folder` with their captions.

    Caption: the same-name `.txt` file; else `template` with `{trigger}` and `{concept}` filled; else the
    trigger word; else the concept of the `N_concept` folder. `N_concept` folders repeat each picture N times.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise RequestError("dataset", f"{folder} is not a folder of pictures")
    items: list[Item] = []
    skipped: list[tuple[Path, str]] = []
    tags: dict[str, Counter[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        concept_dir = path.parent.name if path.parent != folder else ""
        m = _REPEATS.match(concept_dir)
        repeats, concept = (int(m.group(1)), m.group(2)) if m else (1, concept_dir)
        problem, size = check_picture(path)
        if problem:
            skipped.append((path, problem))
            continue
        caption = _caption(path, trigger, template, concept)
        items.append(Item(path, caption, max(1, repeats), *size))
        counter = tags.setdefault(concept_dir or folder.name, Counter())
        counter.update(t.strip() for t in caption.split(",") if t.strip())
    if not items:
        why = f" ({len(skipped)} unreadable)" if skipped else ""
        raise RequestError("dataset", f"{folder} holds no usable pictures{why}")
    return Dataset(tuple(items), tuple(skipped), {k: dict(v) for k, v in tags.items()})


def _caption(path: Path, trigger: str, template: str, concept: str) -> str:
    text_file = path.with_suffix(".txt")
    if text_file.is_file():
        caption = text_file.read_text(encoding="utf-8", errors="replace").strip()
        return f"{trigger}, {caption}" if trigger and trigger not in caption else caption
    if template:
        return template.replace("{trigger}", trigger).replace("{concept}", concept).strip(" ,")
    return trigger or concept


def check_picture(path: Path) -> tuple[str, tuple[int, int]]:
    """("", size) for a usable picture, else (why it is skipped, (0, 0)); reads the header only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            w, h = img.size
            mode = img.mode
            if w * h > MAX_PIXELS:
                return f"too large ({w}x{h})", (0, 0)
            if min(w, h) < MIN_SIDE:
                return f"too small ({w}x{h}; at least {MIN_SIDE} pixels a side)", (0, 0)
            img.load()  # a truncated file fails here
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        return f"not a readable picture ({e})", (0, 0)
    if mode in ("CMYK", "I;16", "I;16B", "I;16L", "I", "F"):
        return f"colour mode {mode} is not supported (save it as 8-bit RGB)", (0, 0)
    return "", (w, h)


def bucket_for(
    width: int, height: int, resolution: int, step: int = 64, max_ratio: float = 2.0
) -> tuple[int, int]:
    """The training size for a picture (kohya's buckets): of the sizes with sides multiples of `step`, area at
    most resolution² and aspect within max_ratio, the one whose aspect is closest to the picture's."""
    import math

    area = resolution * resolution
    candidates = []
    for w in range(step, int(resolution * math.sqrt(max_ratio)) + step, step):
        h = min(area // w // step * step, int(resolution * math.sqrt(max_ratio)) // step * step)
        if h >= step and max(w / h, h / w) <= max_ratio:
            candidates.append((w, h))
    want = math.log(width / height)
    return min(candidates, key=lambda c: (abs(math.log(c[0] / c[1]) - want), -c[0] * c[1]))


def load_picture(item: Item, bucket: tuple[int, int]):  # noqa: ANN201 - a PIL image
    """The picture scaled to cover the bucket and centre-cropped to it (no squashing), as RGB."""
    from PIL import Image

    bw, bh = bucket
    with Image.open(item.path) as img:
        img = img.convert("RGB")
        scale = max(bw / img.width, bh / img.height)
        size = (max(bw, round(img.width * scale)), max(bh, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.LANCZOS)
        left, top = (size[0] - bw) // 2, (size[1] - bh) // 2
        return img.crop((left, top, left + bw, top + bh))


def preview(dataset: Dataset, resolution: int) -> list[str]:
    """One line per picture (file, bucket, repeats, caption) and per skipped file: shown before training."""
    lines = [
        f"{i.path.name}  {i.width}x{i.height} -> {'x'.join(map(str, bucket_for(i.width, i.height, resolution)))}"
        f"  x{i.repeats}  {i.caption!r}"
        for i in dataset.items
    ]
    lines += [f"skipped {p.name}: {why}" for p, why in dataset.skipped]
    return lines
