"""Request bodies with AUTOMATIC1111's field names and defaults; unknown fields are ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _check_text(value: Any, where: str = "") -> None:
    """Strings must be valid Unicode (JSON lets a client send lone surrogates, which no file can hold)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"text{where} holds a lone surrogate (\\ud800-\\udfff); send valid Unicode"
            ) from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, where)
            _check_text(v, f" under {k!r}" if isinstance(k, str) and k.isascii() else where)
    elif isinstance(value, list):
        for v in value:
            _check_text(v, where)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @field_validator("*")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        _check_text(value)
        return value


class Txt2ImgBody(_Body):
    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] | None = None
    seed: int = -1
    sampler_name: str | None = None
    sampler_index: str | None = None
    scheduler: str | None = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    denoising_strength: float | None = None
    clip_skip: int | None = None
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_w: int = -1
    seed_resize_from_h: int = -1
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int = 0
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    override_settings: dict[str, Any] | None = None
    alwayson_scripts: dict[str, Any] | None = (
        None  # {"controlnet": {"args": [unit, ...]}} (api/controlnet.py)
    )
    sdstudio_speed: str | None = None  # "standard" or "fast" (also accepted in override_settings)
    send_images: bool = True
    save_images: bool = True
    # read so they are never silently dropped: warned about in `info` (or refused) by convert.UNSUPPORTED
    restore_faces: bool | None = None
    tiling: bool | None = None
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)


class Img2ImgBody(Txt2ImgBody):
    init_images: list[str] = Field(default_factory=list)
    resize_mode: int = 0
    denoising_strength: float | None = 0.75
    mask: str | None = None
    mask_blur: int | None = None
    mask_blur_x: int | None = None
    inpainting_fill: int = 1
    inpaint_full_res: bool | int = False
    inpaint_full_res_padding: int = 32
    inpainting_mask_invert: int | bool = 0
    include_init_images: bool = False


class PngInfoBody(_Body):
    image: str = ""


class ProgressState(BaseModel):
    skipped: bool = False
    interrupted: bool = False
    stopping_generation: bool = False
    job: str = ""
    job_count: int = 0
    job_timestamp: str = "0"
    job_no: int = 0
    sampling_step: int = 0
    sampling_steps: int = 0


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: ProgressState
    current_image: str | None = None
    textinfo: str | None = None
    current_task: str | None = None


class ImagesResponse(BaseModel):
    images: list[str] | None
    parameters: dict[str, Any]
    info: str


class PngInfoResponse(BaseModel):
    info: str
    items: dict[str, Any]
    parameters: dict[str, Any]
