"""Deforum's settings keys that sdstudio reads but does not render: each is ignored while off, and a
setting that would change the picture is refused (or noted, where only an extra is skipped)."""

from __future__ import annotations

from sdstudio.core.jsontypes import JsonObject

_CN = (
    "overwrite_frames vid_path mask_vid_path enabled low_vram pixel_perfect module model weight guidance_start "
    "guidance_end processor_res threshold_a threshold_b resize_mode control_mode loopback_mode"
).split()

# Keys Deforum writes that carry no meaning for the picture here (names, paths, bookkeeping).
INFORMATIONAL = set(
    (
        "show_info_on_ui batch_name sd_model_name sd_model_hash deforum_git_commit_id resume_from_timestring "
        "resume_timestring store_frames_in_ram delete_imgs delete_input_frames skip_video_creation make_gif "
        "image_path reroll_patience outdir init_image_box seed_resize_from_w seed_resize_from_h "
        "pix2pix_img_cfg_scale_schedule color_coherence_image_path color_coherence_video_every_N_frames"
    ).split()
)
# Keys of features that are off in the file (their values then do not matter).
FEATURE_KEYS = set(
    (
        "translation_z rotation_3d_x rotation_3d_y rotation_3d_z fov_schedule aspect_ratio_schedule "
        "aspect_ratio_use_old_formula near_schedule far_schedule use_depth_warping depth_algorithm midas_weight "
        "padding_mode sampling_mode save_depth_maps "
        "use_mask use_alpha_as_mask mask_file invert_mask mask_contrast_adjust mask_brightness_adjust overlay_mask "
        "mask_overlay_blur fill full_res_mask full_res_mask_padding use_noise_mask mask_schedule noise_mask_schedule "
        "use_mask_video video_mask_path video_init_path extract_nth_frame extract_from_frame extract_to_frame "
        "overwrite_extracted_frames optical_flow_cadence cadence_flow_factor_schedule optical_flow_redo_generation "
        "redo_flow_factor_schedule diffusion_redo parseq_manifest parseq_use_deltas parseq_non_schedule_overrides "
        "use_looper init_images image_strength_schedule blendFactorMax blendFactorSlope tweening_frames_schedule "
        "color_correction_factor enable_subseed_scheduling subseed_schedule subseed_strength_schedule "
        "enable_checkpoint_scheduling checkpoint_schedule enable_noise_multiplier_scheduling "
        "noise_multiplier_schedule enable_ddim_eta_scheduling ddim_eta_schedule enable_ancestral_eta_scheduling "
        "ancestral_eta_schedule add_soundtrack soundtrack_path r_upscale_video r_upscale_factor r_upscale_model "
        "r_upscale_keep_imgs frame_interpolation_engine frame_interpolation_x_amount "
        "frame_interpolation_slow_mo_enabled frame_interpolation_slow_mo_amount frame_interpolation_keep_imgs "
        "frame_interpolation_use_upscaled tiling restore_faces reroll_blank_frames motion_preview_mode"
    ).split()
)
FEATURE_KEYS |= {f"cn_{i}_{k}" for i in range(1, 6) for k in _CN}
HYBRID_PREFIX = "hybrid_"

RENAMED = {"flip_2d_perspective": "enable_perspective_flip", "skip_video_for_run_all": "skip_video_creation"}


def is_on(value: object) -> bool:
    """A Deforum switch as the file writes it ("None", "false", 0, ... are off)."""
    return _on(value)


def _on(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "none", "false", "0", "ignore")
    return bool(value)


# (key, refuse?, what to say) for a feature that is switched on in the file.
_ACTIVE: tuple[tuple[str, bool, str], ...] = (
    ("use_mask", True, "masks are not supported; set use_mask to false"),
    ("use_mask_video", True, "mask videos are not supported; set use_mask_video to false"),
    ("hybrid_motion", True, "hybrid video is not supported; set hybrid_motion to None"),
    ("hybrid_composite", True, "hybrid video is not supported; set hybrid_composite to None"),
    ("optical_flow_cadence", True, "optical-flow cadence is not supported; set optical_flow_cadence to None"),
    ("optical_flow_redo_generation", True, "optical-flow redo is not supported; set it to None"),
    ("diffusion_redo", True, "diffusion redo is not supported; set diffusion_redo to 0"),
    ("parseq_manifest", True, "Parseq manifests are not supported; clear parseq_manifest"),
    ("use_looper", True, "guided images (looper) are not supported; set use_looper to false"),
    ("enable_checkpoint_scheduling", True, "checkpoint scheduling is not supported; set it to false"),
    ("enable_subseed_scheduling", False, "subseed scheduling is not applied"),
    ("enable_noise_multiplier_scheduling", False, "the noise multiplier schedule is not applied"),
    ("enable_ddim_eta_scheduling", False, "the DDIM eta schedule is not applied"),
    ("enable_ancestral_eta_scheduling", False, "the ancestral eta schedule is not applied"),
    ("save_depth_maps", False, "depth maps are not saved (no depth model)"),
    ("add_soundtrack", False, "the soundtrack is not added"),
    ("r_upscale_video", False, "the video is not upscaled"),
    ("frame_interpolation_engine", False, "in-betweens are made by optical flow here, not by that model"),
    ("tiling", False, "tiling is not applied"),
    ("restore_faces", False, "face restoration is not applied"),
    ("reroll_blank_frames", False, "blank frames are not rerolled"),
    ("motion_preview_mode", True, "motion preview mode is not supported; set it to false"),
)


def check_features(data: JsonObject) -> tuple[list[str], list[str]]:
    """(refusals, notes) for Deforum features switched on in `data`."""
    refusals, notes = list[str](), list[str]()
    for key, refuse, message in _ACTIVE:
        if key in data and _on(data[key]):
            (refusals if refuse else notes).append(f"{key}: {message}")
    for i in range(1, 6):
        if _on(data.get(f"cn_{i}_enabled", False)):
            refusals.append(f"cn_{i}_enabled: ControlNet is not supported in animations; disable unit {i}")
    return refusals, notes


def is_known(key: str) -> bool:
    return key in INFORMATIONAL or key in FEATURE_KEYS or key.startswith(HYBRID_PREFIX) or key in RENAMED
