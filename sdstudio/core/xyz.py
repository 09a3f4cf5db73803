"""X/Y/Z plot as A1111 has it: axes of named parameters, values in its syntax (`1-5`, `1-10 (+2)`,
`10-20 [3]`, comma lists, quoted CSV), every combination a Request; and the prompt matrix (`a|b|c`)."""

from __future__ import annotations

import csv
import io
import itertools
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sdstudio.core.request import Request, RequestError

_INT_RANGE = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\(([+-]\d+)\s*\))?\s*")
_INT_COUNT = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\[(\d+)\s*])?\s*")
_FLOAT_RANGE = re.compile(
    r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\(([+-]\d+(?:.\d*)?)\s*\))?\s*"
)
_FLOAT_COUNT = re.compile(
    r"\s*([+-]?\s*\d+(?:.\d*)?)\s*-\s*([+-]?\s*\d+(?:.\d*)?)(?:\s*\[(\d+(?:.\d*)?)\s*])?\s*"
)
_LORA = re.compile(r"<lora:([^:>]+)(?::[^:>]*)?((?::[^>]*)?)>")
MAX_CELLS = 400

Value = int | float | str | tuple[str, ...]
Apply = Callable[[Request, Value, tuple[Value, ...]], Request]  # (request, value, the axis's values)


def _text(v: Value) -> str:
    """The value of a "str" axis (parse_values makes every one a str)."""
    if not isinstance(v, str):
        raise RequestError("xyz", f"{v!r} is not a text value")
    return v


def _field(name: str) -> Apply:
    return lambda r, v, _all: r.replace(**{name: v})


def _prompt_sr(r: Request, value: Value, values: tuple[Value, ...]) -> Request:
    v, search = _text(value), _text(values[0])
    if search not in r.prompt and search not in r.negative_prompt:
        raise RequestError("xyz", f"Prompt S/R did not find {search!r} in the prompt or the negative prompt")
    return r.replace(prompt=r.prompt.replace(search, v), negative_prompt=r.negative_prompt.replace(search, v))


def _prompt_order(r: Request, order: Value, _all: tuple[Value, ...]) -> Request:
    """The tokens rearranged in the given order, each where one of them stood (A1111's Prompt order)."""
    if not isinstance(order, tuple):
        raise RequestError("xyz", f"Prompt order: {order!r} is not an order of tokens")
    spots = sorted((r.prompt.find(t), t) for t in order)
    if any(pos < 0 for pos, _ in spots):
        raise RequestError("xyz", "Prompt order: every value must occur in the prompt")
    rest, parts = r.prompt, []
    for _, token in spots:
        n = rest.find(token)
        parts.append(rest[:n])
        rest = rest[n + len(token) :]
    return r.replace(prompt="".join(p + t for p, t in zip(parts, order, strict=True)) + rest)


def _size(r: Request, value: Value, _all: tuple[Value, ...]) -> Request:
    v = _text(value)
    parts = v.lower().replace(" ", "").split("x")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise RequestError("xyz", f"Size {v!r} is not WIDTHxHEIGHT, e.g. 512x768")
    return r.replace(width=int(parts[0]), height=int(parts[1]))


def _lora_weight(r: Request, v: Value, _all: tuple[Value, ...]) -> Request:
    if not isinstance(v, (int, float)):
        raise RequestError("xyz", f"LoRA weight: {v!r} is not a number")
    if not _LORA.search(r.prompt):
        raise RequestError("xyz", "LoRA weight: the prompt has no <lora:name:weight> tag")
    return r.replace(prompt=_LORA.sub(lambda m: f"<lora:{m.group(1)}:{v:g}>", r.prompt))


def _styles(r: Request, v: Value, _all: tuple[Value, ...]) -> Request:
    return r.replace(styles=r.styles + tuple(s.strip() for s in _text(v).split(",") if s.strip()))


@dataclass(frozen=True)
class AxisKind:
    label: str
    type: str  # "int", "float", "str" or "perm" (A1111's str_permutations)
    apply: Apply
    with_label: bool = True  # "Steps: 20" rather than "20"
    cost: float = 0.0  # slow to change (a checkpoint): run it in the outer loop


AXES: dict[str, AxisKind] = {
    a.label: a
    for a in (
        AxisKind("Nothing", "str", lambda r, v, a: r, with_label=False),
        AxisKind("Seed", "int", _field("seed")),
        AxisKind("Var. seed", "int", _field("subseed")),
        AxisKind("Var. strength", "float", _field("subseed_strength")),
        AxisKind("Steps", "int", _field("steps")),
        AxisKind("Hires steps", "int", _field("hr_second_pass_steps")),
        AxisKind("CFG Scale", "float", _field("cfg_scale")),
        AxisKind("Prompt S/R", "str", _prompt_sr, with_label=False),
        AxisKind("Prompt order", "perm", _prompt_order, with_label=False),
        AxisKind("Sampler", "str", _field("sampler"), with_label=False),
        AxisKind("Checkpoint name", "str", _field("model"), with_label=False, cost=1.0),
        AxisKind("Clip skip", "int", _field("clip_skip")),
        AxisKind("Denoising", "float", _field("strength")),
        AxisKind("Hires upscaler", "str", _field("hr_upscaler")),
        AxisKind("VAE", "str", _field("vae"), cost=0.7),
        AxisKind("Styles", "str", _styles),
        AxisKind("Size", "str", _size),
        AxisKind("LoRA weight", "float", _lora_weight),
    )
}
ALIASES = {
    "checkpoint": "Checkpoint name",
    "cfg": "CFG Scale",
    "denoising strength": "Denoising",
    "lora": "LoRA weight",
}

# A1111's axis lists, whose positions API clients send as x_type/y_type/z_type
A1111_COMMON = ("Nothing", "Seed", "Var. seed", "Var. strength", "Steps")
A1111_TXT2IMG = A1111_COMMON + (
    "Hires steps", "CFG Scale", "Prompt S/R", "Prompt order", "Sampler", "Hires sampler", "Checkpoint name",
    "Negative Guidance minimum sigma", "Sigma Churn", "Sigma min", "Sigma max", "Sigma noise", "Schedule type",
    "Schedule min sigma", "Schedule max sigma", "Schedule rho", "Eta", "Clip skip", "Denoising",
    "Initial noise multiplier", "Extra noise", "Hires upscaler", "VAE", "Styles", "UniPC Order", "Face restore",
    "Token merging ratio", "Token merging ratio high-res", "Always discard next-to-last sigma",
    "SGM noise multiplier", "Refiner checkpoint", "Refiner switch at", "RNG source",
)  # fmt: skip
A1111_IMG2IMG = A1111_COMMON + (
    "CFG Scale", "Image CFG Scale", "Prompt S/R", "Prompt order", "Sampler", "Checkpoint name",
    "Negative Guidance minimum sigma", "Sigma Churn", "Sigma min", "Sigma max", "Sigma noise", "Schedule type",
    "Schedule min sigma", "Schedule max sigma", "Schedule rho", "Eta", "Clip skip", "Denoising",
    "Initial noise multiplier", "Extra noise", "Cond. Image Mask Weight", "VAE", "Styles", "UniPC Order",
    "Face restore", "Token merging ratio", "Token merging ratio high-res", "Always discard next-to-last sigma",
    "SGM noise multiplier", "Refiner checkpoint", "Refiner switch at", "RNG source",
)  # fmt: skip


def axis_kind(name: str) -> AxisKind:
    """The axis called `name` (case-insensitive, A1111's labels); RequestError naming the known ones."""
    wanted = name.strip().lower()
    for label, kind in AXES.items():
        if label.lower() == wanted:
            return kind
    if wanted in ALIASES:
        return AXES[ALIASES[wanted]]
    supported = ", ".join(AXES)
    raise RequestError("xyz", f"unknown or unsupported X/Y/Z axis {name!r}; sdstudio has: {supported}")


def split_values(text: str) -> list[str]:
    """Comma-separated values, CSV-quoted where a value holds a comma ("a, b", c)."""
    rows = csv.reader(io.StringIO(text), skipinitialspace=True)
    return [v.strip() for row in rows for v in row if v.strip()]


def _expand(kind: AxisKind, raw: list[str]) -> list[Value]:
    out: list[Value] = []
    for text in raw:
        if kind.type == "int" and (m := _INT_RANGE.fullmatch(text)):
            step = int(m.group(3)) if m.group(3) else 1
            out += list(range(int(m.group(1).replace(" ", "")), int(m.group(2).replace(" ", "")) + 1, step))
        elif kind.type == "int" and (m := _INT_COUNT.fullmatch(text)):
            out += [
                int(v)
                for v in _linspace(
                    float(m.group(1).replace(" ", "")),
                    float(m.group(2).replace(" ", "")),
                    int(m.group(3) or 1),
                )
            ]
        elif kind.type == "float" and (m := _FLOAT_RANGE.fullmatch(text)):
            start, end = float(m.group(1).replace(" ", "")), float(m.group(2).replace(" ", ""))
            fstep = float(m.group(3)) if m.group(3) else 1.0
            out += _arange(start, end + fstep, fstep)
        elif kind.type == "float" and (m := _FLOAT_COUNT.fullmatch(text)):
            start, end = float(m.group(1).replace(" ", "")), float(m.group(2).replace(" ", ""))
            out += _linspace(start, end, int(float(m.group(3) or 1)))
        else:
            out.append(text)
    return out


def _arange(start: float, stop: float, step: float) -> list[float]:
    import numpy as np

    if step == 0:
        raise RequestError("xyz", "a range step of 0 never ends")
    return [float(v) for v in np.arange(start, stop, step)]


def _linspace(start: float, stop: float, num: int) -> list[float]:
    import numpy as np

    return [float(v) for v in np.linspace(start, stop, num)]


def parse_values(kind: AxisKind, text: str | Sequence[object]) -> tuple[Value, ...]:
    """An axis's values from A1111's syntax (or a list, as API clients' dropdowns send them)."""
    if kind.label == "Nothing":
        return ("",)
    raw = split_values(text) if isinstance(text, str) else [str(v).strip() for v in text]
    if kind.type == "perm":
        return tuple(itertools.permutations(raw))
    values = _expand(kind, raw)
    cast = {"int": int, "float": float, "str": str}[kind.type]
    try:
        typed = tuple(cast(v) for v in values)
    except ValueError:
        bad = next(v for v in values if not _castable(cast, v))
        raise RequestError("xyz", f"{kind.label}: {bad!r} is not a valid {kind.type} value") from None
    if not typed:
        raise RequestError("xyz", f"{kind.label}: give at least one value")
    if kind.label in ("Seed", "Var. seed"):  # A1111 fixes -1 to one random seed per value
        typed = tuple(secrets.randbelow(2**32) if v == -1 else v for v in typed)
    return typed


def _castable(cast: type, v: Value) -> bool:
    try:
        cast(v)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class Axis:
    kind: AxisKind
    values: tuple[Value, ...]

    @classmethod
    def parse(cls, spec: str) -> Axis:
        """`"Steps:2,4"` (the CLI's form): the axis name, a colon, its values."""
        name, sep, values = spec.partition(":")
        if not sep:
            raise RequestError("xyz", f'{spec!r}: write an axis as NAME:VALUES, e.g. "Steps:10,20,30"')
        kind = axis_kind(name)
        return cls(kind, parse_values(kind, values))

    def label(self, value: Value) -> str:
        if self.kind.label == "Nothing":
            return ""
        text = (
            ", ".join(value)
            if isinstance(value, tuple)
            else f"{round(value, 8):g}"
            if isinstance(value, float)
            else str(value)
        )
        return f"{self.kind.label}: {text}" if self.kind.with_label else text


NOTHING = Axis(AXES["Nothing"], ("",))


@dataclass(frozen=True)
class GridSpec:
    """A grid of requests: cells[z][y][x], with the column, row and grid titles."""

    x_labels: tuple[str, ...]
    y_labels: tuple[str, ...]
    z_labels: tuple[str, ...]
    cells: tuple[tuple[tuple[Request, ...], ...], ...]

    @property
    def count(self) -> int:
        return len(self.cells) * len(self.cells[0]) * len(self.cells[0][0])

    def positions(self) -> list[tuple[int, int, int]]:
        """(x, y, z) of every cell in running order."""
        return [
            (x, y, z)
            for z in range(len(self.cells))
            for y in range(len(self.cells[0]))
            for x in range(len(self.cells[0][0]))
        ]


def xyz_grid(base: Request, x: Axis, y: Axis = NOTHING, z: Axis = NOTHING) -> GridSpec:
    """Every combination of the axes' values applied to `base` (seeds fixed first, as A1111 does)."""
    if base.seed == -1:
        base = base.replace(seed=secrets.randbelow(2**32))
    count = len(x.values) * len(y.values) * len(z.values)
    if count > MAX_CELLS:
        raise RequestError("xyz", f"{count} cells is over the limit of {MAX_CELLS}; use fewer values")
    cells = tuple(
        tuple(
            tuple(
                x.kind.apply(
                    y.kind.apply(z.kind.apply(base, vz, z.values), vy, y.values), vx, x.values
                ).validate()
                for vx in x.values
            )
            for vy in y.values
        )
        for vz in z.values
    )
    return GridSpec(
        tuple(x.label(v) for v in x.values),
        tuple(y.label(v) for v in y.values),
        tuple(z.label(v) for v in z.values),
        cells,
    )


def prompt_matrix(base: Request, separator: str = ", ") -> GridSpec:
    """A1111's prompt matrix: `a|b|c` makes every choice of the parts after the first; the first half of the
    options runs along X, the second half along Y; labels say which are in (+) and out (-)."""
    parts = [p.strip() for p in base.prompt.split("|")]
    if len(parts) < 2:
        raise RequestError("prompt", 'a prompt matrix needs options after | (e.g. "a cat|in snow|at night")')
    options = parts[1:]
    if 2 ** len(options) > MAX_CELLS:
        raise RequestError("prompt", f"{len(options)} options make too many pictures; use at most 8")
    if base.seed == -1:
        base = base.replace(seed=secrets.randbelow(2**32))
    along_x, along_y = options[: (len(options) + 1) // 2], options[(len(options) + 1) // 2 :]

    def label(chosen: list[bool], names: list[str]) -> str:
        return "\n".join(("+ " if on else "- ") + name for on, name in zip(chosen, names, strict=True))

    xs = list(itertools.product((False, True), repeat=len(along_x)))
    ys = list(itertools.product((False, True), repeat=len(along_y)))
    xs = [tuple(reversed(c)) for c in xs]
    ys = [tuple(reversed(c)) for c in ys]

    def cell(cx: tuple[bool, ...], cy: tuple[bool, ...]) -> Request:
        chosen = [o for o, on in zip(options, cx + cy, strict=True) if on]
        return base.replace(prompt=separator.join([parts[0], *chosen])).validate()

    return GridSpec(
        tuple(label(list(c), along_x) for c in xs),
        tuple(label(list(c), along_y) for c in ys) if along_y else ("",),
        ("",),
        ((tuple(tuple(cell(cx, cy) for cx in xs) for cy in (ys if along_y else [()])),)),
    )
