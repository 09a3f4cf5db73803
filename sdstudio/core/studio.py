"""The studio model: the artist's parameters, what the canvas holds, the last result and the size/mode rules.

Qt-free: the window's widgets are views bound to it (Krita AI Diffusion's Property/bind pattern); it can be
driven and tested without a window. Changes are announced through `Event`s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sdstudio.core.request import GeneratedImage, InputImage, Mode, Request, Result, size_for_picture
from sdstudio.core.speed.fewstep import DEFAULTS as FEW_STEP_DEFAULTS
from sdstudio.core.speed.fewstep import FewStep

CANVAS_FIELDS = frozenset({"mode", "init_image", "mask"})
PARAMETERS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Request) if f.name not in CANVAS_FIELDS
)  # the field list exists once: the Request's own fields less what the canvas decides


def mode_for(has_image: bool, has_mask: bool) -> Mode:
    """The mode follows from the canvas: no image, image, image + mask."""
    if not has_image:
        return Mode.txt2img
    return Mode.inpaint if has_mask else Mode.img2img


def parameters_of(request: Request) -> Request:
    """The request less its canvas inputs (the parameters the artist sets)."""
    return request.replace(mode=Mode.txt2img, init_image=None, mask=None)


def with_inputs(parameters: Request, init_image: InputImage | None, mask: InputImage | None) -> Request:
    """The job of these parameters on these canvas inputs; the mode follows from the inputs."""
    mode = mode_for(init_image is not None, init_image is not None and mask is not None)
    return parameters.replace(
        mode=mode,
        init_image=init_image if mode is not Mode.txt2img else None,
        mask=mask if mode is Mode.inpaint else None,
    )


class Event:
    """A Qt-free signal: callbacks called in connection order with the emitted arguments."""

    def __init__(self) -> None:
        self._slots: list[Callable[..., object]] = []

    def connect(self, slot: Callable[..., object]) -> None:
        self._slots.append(slot)

    def disconnect(self, slot: Callable[..., object]) -> None:
        self._slots.remove(slot)

    def emit(self, *args: object) -> None:
        for slot in list(self._slots):
            slot(*args)


class StudioModel:
    """Parameters (a Request less its canvas inputs), the canvas picture's size and mask, the last result.

    Events: `changed(name)` for each parameter that changed; `canvas_changed()` when the picture or mask
    changed (the mode may follow); `result_changed()`; `message(text)` when a rule acted (status bar).
    """

    def __init__(self, parameters: Request | None = None) -> None:
        self._params = parameters_of(parameters or Request())
        self.picture: tuple[int, int] | None = None  # the canvas picture's size, None when empty
        self.has_mask = False
        self.native_side: int | None = None  # the model family's own square side, when known
        self.few_step: FewStep | None = None  # the chosen model's few-step profile (SD-Turbo, LCM, ...)
        self.last_result: Result | None = None
        self.result_index = 0  # which picture of the last result (a batch) is shown
        self.changed = Event()
        self.canvas_changed = Event()
        self.result_changed = Event()
        self.message = Event()

    # -- parameters ------------------------------------------------------------------------------
    @property
    def parameters(self) -> Request:
        return self._params

    def get(self, name: str) -> object:
        """A parameter by name (the window's bindings); typed code reads `parameters.<name>`."""
        if name not in PARAMETERS:
            raise KeyError(f"{name} is not a studio parameter")
        return getattr(self._params, name)

    def set(self, name: str, value: object) -> None:
        self.update(**{name: value})

    def update(self, **changes: object) -> None:
        """Set parameters; `changed(name)` for each that really changed."""
        unknown = set(changes) - set(PARAMETERS)
        if unknown:
            raise KeyError(f"not studio parameters: {', '.join(sorted(unknown))}")
        changed = [n for n, v in changes.items() if getattr(self._params, n) != v]
        if not changed:
            return
        self._params = self._params.replace(**{n: changes[n] for n in changed})
        for name in changed:
            self.changed.emit(name)

    def set_parameters(self, request: Request) -> None:
        """Every parameter from a request, exactly (autosave restore)."""
        self.update(**{n: getattr(request, n) for n in PARAMETERS})

    @property
    def size(self) -> tuple[int, int]:
        return self._params.width, self._params.height

    @property
    def mode(self) -> Mode:
        return mode_for(self.picture is not None, self.picture is not None and self.has_mask)

    def request(self, init_image: InputImage | None = None, mask: InputImage | None = None) -> Request:
        """The job these parameters and canvas inputs describe; the mode follows from the inputs."""
        return with_inputs(self._params, init_image, mask)

    # -- canvas ----------------------------------------------------------------------------------
    def set_canvas(self, picture: tuple[int, int] | None, has_mask: bool) -> None:
        """What the canvas holds now (no size rule: see `picture_replaced`)."""
        has_mask = has_mask and picture is not None
        if (picture, has_mask) != (self.picture, self.has_mask):
            self.picture, self.has_mask = picture, has_mask
            self.canvas_changed.emit()

    def picture_replaced(self, width: int, height: int) -> None:
        """The artist put a new picture on the canvas: W×H takes its aspect (not a squashed square)."""
        self.set_canvas((width, height), False)
        size = size_for_picture(width, height, long_side=max(1024, *self.size))
        if size != self.size:
            self.update(width=size[0], height=size[1])
            self.message.emit(f"Size {size[0]}×{size[1]} follows the picture ({width}×{height}).")

    def size_note(self) -> str:
        """Why the size differs from the picture's shape, or "" when it keeps its aspect."""
        if self.picture is None:
            return ""
        pw, ph = self.picture
        w, h = self.size
        if abs(w / h - pw / ph) <= 0.02 * pw / ph:
            return ""
        return f"The picture is {pw}×{ph}: {w}×{h} stretches it to another shape."

    # -- rules -----------------------------------------------------------------------------------
    def reuse(self, request: Request) -> None:
        """Every parameter of an earlier job, seed included; a picture on the canvas keeps its size."""
        keep = self.picture is not None and (request.width, request.height) != self.size
        size = self.size
        self.set_parameters(request)
        if keep:
            self.update(width=size[0], height=size[1])
            self.message.emit(
                f"Parameters reused (seed {request.seed}); the size stays {size[0]}×{size[1]} for the "
                f"picture on the canvas (the job had {request.width}×{request.height})."
            )
        else:
            self.message.emit(f"Parameters reused (seed {request.seed}).")

    def model_chosen(self, native_side: int | None) -> None:
        """The family's own square (512 SD 1.x, 1024 SDXL, ...) replaces the last model's; other sizes stay."""
        before, self.native_side = self.native_side, native_side
        if before and native_side and native_side != before and self.size == (before, before):
            self.update(width=native_side, height=native_side)
            self.message.emit(f"Size {native_side}×{native_side}: what this model was trained at.")

    def few_step_chosen(self, profile: FewStep | None) -> None:
        """A few-step model (SD-Turbo, LCM, ...) gets its sampler, steps and CFG; leaving it for an ordinary
        model brings back the defaults unless the artist changed them meanwhile."""
        before, self.few_step = self.few_step, profile
        if profile is not None and profile != before:
            self.update(sampler=profile.sampler, steps=profile.steps, cfg_scale=profile.cfg_scale)
            self.message.emit(f"{profile.describe()}: what this few-step model is made for.")
        elif profile is None and before is not None:
            if (self.get("sampler"), self.get("steps"), self.get("cfg_scale")) == (
                before.sampler,
                before.steps,
                before.cfg_scale,
            ):
                self.update(**FEW_STEP_DEFAULTS)
                self.message.emit("Sampler, steps and CFG back to the defaults for this model.")

    # -- results ---------------------------------------------------------------------------------
    def set_result(self, result: Result) -> None:
        self.last_result, self.result_index = result, 0
        self.result_changed.emit()

    def results(self) -> list[GeneratedImage]:
        return list(self.last_result.images) if self.last_result is not None else []

    def show_result(self, index: int) -> GeneratedImage | None:
        """Picture `index` of the last result (wrapping around a batch), or None without a result."""
        images = self.results()
        if not images:
            return None
        self.result_index = index % len(images)
        self.result_changed.emit()
        return images[self.result_index]
