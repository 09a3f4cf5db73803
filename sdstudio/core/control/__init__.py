"""Reference images (issue 13): ControlNet units, their model-free preprocessors and the prompt's `{image}` tags.

Qt-free; torch and diffusers are imported only by the engine extension (extension.py).
"""

from sdstudio.core.control.preprocess import MODULES, control_map, preprocess
from sdstudio.core.control.tags import ImageTag, parse_image_tags, unit_from_ref, units_from_tags
from sdstudio.core.control.unit import ControlMode, ControlUnit, ResizeMode, controls_from_list

__all__ = [
    "MODULES",
    "ControlMode",
    "ControlUnit",
    "ImageTag",
    "ResizeMode",
    "control_map",
    "controls_from_list",
    "parse_image_tags",
    "preprocess",
    "unit_from_ref",
    "units_from_tags",
]
