"""Two-way binding of a widget to one parameter of the studio model (Krita AI Diffusion's bind pattern)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from sdstudio.core.studio import StudioModel


@dataclass(frozen=True)
class Binding:
    """How a widget reads, shows and announces one value (`widget` is outlined when its value is wrong)."""

    widget: QWidget
    get: Callable[[], Any]
    show: Callable[[Any], None]
    edited: SignalInstance


def spin(widget: QSpinBox) -> Binding:
    return Binding(widget, widget.value, widget.setValue, widget.valueChanged)


def dspin(widget: QDoubleSpinBox) -> Binding:
    decimals = widget.decimals()
    return Binding(
        widget,
        lambda: round(widget.value(), decimals),
        lambda v: widget.setValue(float(v)),
        widget.valueChanged,
    )


def combo(
    widget: QComboBox, convert: Callable[[Any], Any] = lambda v: v, label: Callable[[Any], str] = str
) -> Binding:
    """The selected item's data; a value not in the list is added (a reused request round-trips exactly)."""

    def show(value: Any) -> None:
        data = getattr(value, "value", value)
        i = widget.findData(data)
        if i < 0:
            widget.addItem(label(value), data)
            i = widget.count() - 1
        widget.setCurrentIndex(i)

    return Binding(widget, lambda: convert(widget.currentData()), show, widget.currentIndexChanged)


def int_line(widget: QLineEdit, empty: int) -> Binding:
    """An integer typed in a line edit; what is not a number yet (empty, a lone "-") reads as `empty`."""

    def get() -> int:
        try:
            return int(widget.text().strip())
        except ValueError:
            return empty

    return Binding(widget, get, lambda v: widget.setText(str(v)), widget.textChanged)


def bind(model: StudioModel, name: str, binding: Binding) -> None:
    """The widget shows the model's value and sets it when edited; each side updates only on a real change."""

    def to_widget(changed: str) -> None:
        if changed == name and binding.get() != model.get(name):
            binding.show(model.get(name))

    def to_model(*_: Any) -> None:
        value = binding.get()
        if value != model.get(name):
            model.set(name, value)

    model.changed.connect(to_widget)
    binding.edited.connect(to_model)
    binding.widget.destroyed.connect(lambda: model.changed.disconnect(to_widget))
    if binding.get() != model.get(name):
        binding.show(model.get(name))
