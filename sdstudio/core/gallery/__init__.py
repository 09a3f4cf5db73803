"""The gallery store: PNGs with A1111-readable parameters, an SQLite/FTS5 index, lineage, other tools' images."""

from sdstudio.core.gallery.index import Record
from sdstudio.core.gallery.metadata import (
    ImageParameters,
    infotext,
    parse_infotext,
    png_bytes,
)
from sdstudio.core.gallery.reading import read_parameters
from sdstudio.core.gallery.store import GalleryStore

__all__ = [
    "GalleryStore",
    "ImageParameters",
    "Record",
    "infotext",
    "parse_infotext",
    "png_bytes",
    "read_parameters",
]
