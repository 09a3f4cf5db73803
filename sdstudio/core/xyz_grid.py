"""The X/Y/Z grid picture: cells in rows and columns, labels drawn with Pillow in the bundled DejaVu Sans,
one grid per Z value side by side under its title; every cell's box is kept for clicks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from sdstudio.core.paths import resources_dir

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageDraw import ImageDraw
    from PIL.ImageFont import FreeTypeFont

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class GridPicture:
    image: Image
    boxes: tuple[tuple[int, int, int, Box], ...]  # (x, y, z, (left, top, right, bottom)) per cell

    def cell_at(self, px: int, py: int) -> tuple[int, int, int] | None:
        """The (x, y, z) of the cell under a point of the picture, or None (labels, margins)."""
        for x, y, z, (left, top, right, bottom) in self.boxes:
            if left <= px < right and top <= py < bottom:
                return x, y, z
        return None


@lru_cache(maxsize=8)
def font(size: int) -> FreeTypeFont:
    from PIL import ImageFont

    return ImageFont.truetype(str(resources_dir() / "fonts" / "DejaVuSans.ttf"), size)


def wrap(text: str, width: int, face: FreeTypeFont) -> list[str]:
    """Lines of `text` no wider than `width` pixels (a long word stays whole); newlines kept."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            attempt = f"{line} {word}" if line else word
            if line and face.getlength(attempt) > width:
                lines.append(line)
                line = word
            else:
                line = attempt
        lines.append(line)
    return lines


def _text_block(
    draw: ImageDraw, lines: list[str], face: FreeTypeFont, centre_x: float, top: float, spacing: int
) -> None:
    for line in lines:
        draw.text((centre_x, top), line, font=face, fill="black", anchor="ma")
        top += face.size + spacing


def _block_height(lines: list[str], face: FreeTypeFont, spacing: int) -> int:
    return len(lines) * (int(face.size) + spacing)


def draw_grid(
    cells: list[list[Image]],
    x_labels: tuple[str, ...],
    y_labels: tuple[str, ...],
    legend: bool = True,
    margin: int = 0,
) -> tuple[Image, list[tuple[int, int, Box]]]:
    """One grid (cells[y][x], PIL pictures) with column labels on top and row labels on the left."""
    from PIL import Image, ImageDraw

    cw, ch = cells[0][0].size
    rows, cols = len(cells), len(cells[0])
    face = font(max(12, (cw + ch) // 25))
    spacing = int(face.size) // 2
    show_x = legend and any(x_labels)
    show_y = legend and any(y_labels)
    pad_left = cw * 3 // 4 if show_y else 0
    x_lines = [wrap(t, cw, face) for t in x_labels] if show_x else []
    y_lines = [wrap(t, pad_left - 2 * spacing, face) for t in y_labels] if show_y else []
    pad_top = max(_block_height(lines, face, spacing) for lines in x_lines) + spacing * 2 if show_x else 0
    width = pad_left + cols * cw + (cols - 1) * margin
    height = pad_top + rows * ch + (rows - 1) * margin
    grid = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(grid)
    boxes: list[tuple[int, int, Box]] = []
    for y, row in enumerate(cells):
        for x, cell in enumerate(row):
            left, top = pad_left + x * (cw + margin), pad_top + y * (ch + margin)
            grid.paste(
                cell.convert("RGB").resize((cw, ch)) if cell.size != (cw, ch) else cell.convert("RGB"),
                (left, top),
            )
            boxes.append((x, y, (left, top, left + cw, top + ch)))
    for x, lines in enumerate(x_lines):
        centre = pad_left + x * (cw + margin) + cw / 2
        _text_block(draw, lines, face, centre, spacing, spacing)
    for y, lines in enumerate(y_lines):
        middle = pad_top + y * (ch + margin) + (ch - _block_height(lines, face, spacing)) / 2
        _text_block(draw, lines, face, pad_left / 2, middle, spacing)
    return grid, boxes


def draw_xyz(
    cells: list[list[list[Image]]],
    x_labels: tuple[str, ...],
    y_labels: tuple[str, ...],
    z_labels: tuple[str, ...],
    legend: bool = True,
    margin: int = 0,
) -> GridPicture:
    """cells[z][y][x]: one grid per Z value, side by side under its title when there are several."""
    from PIL import Image, ImageDraw

    grids = [draw_grid(layer, x_labels, y_labels, legend, margin) for layer in cells]
    if len(grids) == 1 and not (legend and any(z_labels)):
        image, boxes = grids[0]
        return GridPicture(image, tuple((x, y, 0, box) for x, y, box in boxes))
    gw, gh = grids[0][0].size
    face = font(max(12, (gw + gh) // 40))
    spacing = int(face.size) // 2
    titles = [wrap(t, gw, face) for t in z_labels] if legend else [[] for _ in z_labels]
    pad_top = max(_block_height(lines, face, spacing) for lines in titles) + 2 * spacing if legend else 0
    gap = max(margin, spacing * 2)
    out = Image.new("RGB", (len(grids) * gw + (len(grids) - 1) * gap, pad_top + gh), "white")
    draw = ImageDraw.Draw(out)
    all_boxes: list[tuple[int, int, int, Box]] = []
    for z, (image, boxes) in enumerate(grids):
        left = z * (gw + gap)
        out.paste(image, (left, pad_top))
        _text_block(draw, titles[z], face, left + gw / 2, spacing, spacing)
        all_boxes += [
            (x, y, z, (b[0] + left, b[1] + pad_top, b[2] + left, b[3] + pad_top)) for x, y, b in boxes
        ]
    return GridPicture(out, tuple(all_boxes))
