"""Preprocessors with a model: tiny random-weight Depth Anything and ViTPose models built here and found in the
library's models/annotators folder (or an A1111 install's annotator downloads); the OpenPose drawing; the disk
cache of maps; a missing model is one clear error naming where to put it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from sdstudio.core.control import ControlUnit, preprocess
from sdstudio.core.control.annotators import Annotators, loaded_models, unload_all
from sdstudio.core.control.maps import control_map_for
from sdstudio.core.control.pose import Person
from sdstudio.core.control.skeleton import COLORS, LIMBS, draw_openpose, openpose_points
from sdstudio.core.errors import ModelError
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import InputImage, Request, RequestError
from sdstudio.core.settings import Settings


def tiny_depth_anything(folder: Path) -> Path:
    """A Depth Anything with a 4-layer DINOv2 of width 16, random weights that vary with the input."""
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessorPil,
    )

    backbone = Dinov2Config(
        hidden_size=16, num_hidden_layers=4, num_attention_heads=1, intermediate_size=32, patch_size=14,
        image_size=56, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False,
    )  # fmt: skip
    config = DepthAnythingConfig(
        backbone_config=backbone, neck_hidden_sizes=[8, 8, 16, 16], fusion_hidden_size=16,
        head_hidden_size=8, reassemble_hidden_size=16,
    )  # fmt: skip
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():  # the default init predicts an almost flat depth: make it see something
        for p in model.parameters():
            p.normal_(0.0, 0.3 if p.dim() > 1 else 0.05)
        model.head.conv3.bias.fill_(2.0)
    model.save_pretrained(folder)
    DPTImageProcessorPil(
        size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14, do_pad=False,
        resample=3, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)  # fmt: skip
    return folder


def tiny_vitpose(folder: Path) -> Path:
    """A ViTPose (COCO's 17 keypoints) with a 2-layer backbone of width 16 and a 64x48 input."""
    from transformers import (
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessorPil,
    )

    backbone = VitPoseBackboneConfig(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=[64, 48],
        patch_size=[16, 16], out_indices=[2], part_features=8,
    )  # fmt: skip
    torch.manual_seed(1)
    VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, num_labels=17)).save_pretrained(folder)
    VitPoseImageProcessorPil(size={"height": 64, "width": 48}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_annotators(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/annotators with depth_anything/ and vitpose/, built once per module."""
    base = tmp_path_factory.mktemp("annotators")
    tiny_depth_anything(base / "depth_anything")
    tiny_vitpose(base / "vitpose")
    return base


@pytest.fixture
def library(tiny_annotators: Path, sdstudio_home: Path) -> ModelLibrary:
    settings = Settings()
    models = settings.library_path() / "models"
    models.mkdir(parents=True)
    (models / "annotators").symlink_to(tiny_annotators, target_is_directory=True)
    unload_all()
    return ModelLibrary(settings)


def _original_layout(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers Depth Anything's tensors under the original repository's names (fused qkv)."""
    out: dict[str, torch.Tensor] = {}
    renames = [
        ("backbone.embeddings.position_embeddings", "pretrained.pos_embed"),
        ("backbone.embeddings.patch_embeddings.projection", "pretrained.patch_embed.proj"),
        ("backbone.embeddings.", "pretrained."),
        ("backbone.encoder.layer.", "pretrained.blocks."),
        (".attention.output.dense", ".attn.proj"),
        (".layer_scale1.lambda1", ".ls1.gamma"),
        (".layer_scale2.lambda1", ".ls2.gamma"),
        ("backbone.layernorm", "pretrained.norm"),
        ("neck.reassemble_stage.layers.", "depth_head.RS."),
        ("neck.convs.", "depth_head.CONV."),
        ("head.conv1", "depth_head.scratch.output_conv1"),
        ("head.conv2", "depth_head.scratch.output_conv2.0"),
        ("head.conv3", "depth_head.scratch.output_conv2.2"),
    ]
    for key, value in sd.items():
        if ".attention.attention." in key:
            continue
        for old, new in renames:
            key = key.replace(old, new)
        if key.startswith("depth_head.RS."):
            i, part, leaf = key.split(".")[2:]
            key = f"depth_head.{'projects' if part == 'projection' else 'resize_layers'}.{i}.{leaf}"
        elif key.startswith("depth_head.CONV."):
            key = f"depth_head.scratch.layer{int(key.split('.')[2]) + 1}_rn.{key.split('.')[3]}"
        elif key.startswith("neck.fusion_stage.layers."):
            j, rest = int(key.split(".")[3]), ".".join(key.split(".")[4:])
            rest = rest.replace("projection", "out_conv").replace("residual_layer", "resConfUnit")
            key = f"depth_head.scratch.refinenet{4 - j}.{rest.replace('convolution', 'conv')}"
        out[key] = value
    layers = {k.split(".")[3] for k in sd if ".attention.attention." in k}
    for i in layers:
        for leaf in ("weight", "bias"):
            parts = [
                sd[f"backbone.encoder.layer.{i}.attention.attention.{p}.{leaf}"]
                for p in ("query", "key", "value")
            ]
            out[f"pretrained.blocks.{i}.attn.qkv.{leaf}"] = torch.cat(parts)
    return out


def _person_photo(size: tuple[int, int] = (96, 128)) -> Image.Image:
    image = Image.new("RGB", size, (200, 210, 220))
    draw = ImageDraw.Draw(image)
    draw.ellipse((36, 8, 60, 32), fill=(230, 180, 150))
    draw.rectangle((34, 34, 62, 84), fill=(40, 60, 160))
    draw.line((40, 84, 30, 124), fill=(30, 30, 30), width=6)
    return image


def test_depth_anything_map_has_the_pictures_size_varies_and_is_cached_on_disk(library: ModelLibrary) -> None:
    unit = ControlUnit(InputImage.from_pil(_person_photo()), "depth_anything", processor_res=64)
    depth = np.asarray(control_map_for(unit, (96, 128), library, "cpu", fitted=False))
    assert depth.shape == (85, 64, 3)  # the picture at processor_res (short side 64), as A1111's
    assert np.array_equal(depth[..., 0], depth[..., 1]) and depth.min() == 0 and depth.max() == 255
    assert len(np.unique(depth)) > 20  # it varies across the picture

    # the same picture and module again: read from the cache, the model does not run
    (loaded,) = loaded_models()
    from sdstudio.core.control.annotators import _LOADED

    calls: list[int] = []
    hook = _LOADED[loaded].model.register_forward_hook(lambda *a: calls.append(1))
    try:
        again = control_map_for(unit, (96, 128), library, "cpu")
        assert calls == [] and again.size == (96, 128)
        other = InputImage.from_pil(_person_photo((100, 128)))
        control_map_for(ControlUnit(other, "depth_anything", processor_res=64), (96, 128), library, "cpu")
        assert calls == [1]  # another picture runs it
    finally:
        hook.remove()
    cached = list((library.settings.library_path().parent / "cache" / "control-maps").glob("*/*.png"))
    assert len(cached) == 2


def test_openpose_map_from_vitpose_is_drawn_from_its_keypoints(library: ModelLibrary) -> None:
    from sdstudio.core.control.pose import estimate_people

    picture = _person_photo()
    annotators = Annotators(library, "cpu")
    (person,) = estimate_people(picture, annotators)  # no detector: the whole picture is one person
    assert len(person.keypoints) == 17 and all(0.0 <= s for s in person.scores)
    unit = ControlUnit(InputImage.from_pil(picture), "openpose", processor_res=96, pixel_perfect=True)
    drawn = np.asarray(preprocess(picture, unit, (96, 128), annotators))
    assert drawn.shape == (128, 96, 3)
    assert np.array_equal(drawn, draw_openpose((96, 128), [person.points()]))
    lowered = Person(person.keypoints, tuple(1.0 for _ in person.scores)).points()
    assert np.abs(draw_openpose((96, 128), [lowered]).astype(int)).sum() > 0  # every point drawn


def test_the_openpose_drawing_colours_limbs_and_points_as_a1111() -> None:
    keypoints = np.zeros((17, 2))
    scores = np.zeros(17)
    # COCO: 5 left shoulder, 6 right shoulder, 8 right elbow, 10 right wrist (below threshold)
    keypoints[5], keypoints[6], keypoints[8], keypoints[10] = (70, 40), (30, 40), (30, 80), (30, 110)
    scores[[5, 6, 8]], scores[10] = 0.9, 0.1
    points = openpose_points(keypoints, scores, 0.3)
    assert points[1] == (50.0, 40.0)  # the neck: between the shoulders
    assert points[2] == (30.0, 40.0) and points[3] == (30.0, 80.0) and points[4] is None
    canvas = draw_openpose((100, 120), [points])
    assert tuple(canvas[40, 50]) == COLORS[1]  # the neck point
    assert tuple(canvas[80, 30]) == COLORS[3]  # the right elbow point
    limb = LIMBS.index((2, 3))  # right shoulder -> right elbow, drawn in 60% of its colour
    assert tuple(canvas[60, 30]) == tuple(int(c * 0.6) for c in COLORS[limb])
    limb = LIMBS.index((1, 5))  # neck -> left shoulder
    assert tuple(canvas[40, 60]) == tuple(int(c * 0.6) for c in COLORS[limb])
    assert tuple(canvas[100, 30]) == (0, 0, 0)  # the wrist was not seen: no forearm
    assert tuple(canvas[5, 5]) == (0, 0, 0)


def test_a_missing_preprocessor_model_is_one_error_naming_where_to_put_it(sdstudio_home: Path) -> None:
    from sdstudio.core.engine import Engine

    library = ModelLibrary(Settings())
    unit = ControlUnit(InputImage.from_pil(_person_photo()), "openpose")
    with pytest.raises(ModelError, match=r"needs a ViTPose model.*models/annotators/vitpose"):
        control_map_for(unit, (64, 64), library, "cpu")
    request = Request(prompt="a hand", steps=1, width=64, height=64, controls=(unit,))
    with pytest.raises(ModelError, match="needs a ViTPose model"):
        Engine(library, device="cpu").run(request)  # refused before the model loads
    # canny needs no model at all
    canny = ControlUnit(InputImage.from_pil(_person_photo()), "canny", processor_res=64)
    assert control_map_for(canny, (64, 64), library, "cpu").size == (64, 64)
    with pytest.raises(RequestError, match="no reference picture"):
        control_map_for(ControlUnit(module="canny"), (64, 64), library, "cpu")


def test_models_are_found_in_an_a1111_installs_annotator_downloads(
    tiny_annotators: Path, tmp_path: Path
) -> None:
    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    downloads = root / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / "depth_anything").symlink_to(tiny_annotators / "depth_anything", target_is_directory=True)
    library = ModelLibrary(Settings(model_roots=[str(root)]))
    assert Annotators(library).source("depth") == str(downloads / "depth_anything")
    # Depth Anything's original checkpoint, as the A1111 extension downloads it, is read as well
    from transformers import DepthAnythingForDepthEstimation

    from sdstudio.core.control.depth_original import load_original

    (downloads / "depth_anything").unlink()
    (downloads / "depth_anything").mkdir()
    tiny = DepthAnythingForDepthEstimation.from_pretrained(str(tiny_annotators / "depth_anything")).eval()
    original = downloads / "depth_anything" / "depth_anything_vits14.pth"
    from safetensors.torch import load_file

    saved = load_file(
        str(tiny_annotators / "depth_anything" / "model.safetensors")
    )  # transformers' file names
    torch.save(_original_layout(saved), original)
    assert Annotators(library).source("depth") == str(original)
    pixels = torch.randn(1, 3, 70, 56)
    with torch.no_grad():
        theirs = tiny(pixel_values=pixels).predicted_depth
        ours = load_original(original).eval()(pixel_values=pixels).predicted_depth
    assert torch.equal(ours, theirs)
    depth = np.asarray(control_map_for(ControlUnit(InputImage.from_pil(_person_photo()), "depth_anything",
                                                   processor_res=64), (64, 64), library, "cpu"))  # fmt: skip
    assert depth.shape == (64, 64, 3) and depth.max() == 255

    (downloads / "openpose").mkdir()
    (downloads / "openpose" / "body_pose_model.pth").write_bytes(b"x")
    with pytest.raises(ModelError, match="body_pose_model.pth is an original checkpoint"):
        Annotators(library).source("pose")


def test_a_pose_tag_runs_a_generation_with_a_pose_controlnet_end_to_end(
    tiny_annotators: Path, tmp_path: Path, demo_home: Path
) -> None:
    import diffusers

    from sdstudio.core import demo
    from sdstudio.core.engine import Engine
    from sdstudio.core.gallery import infotext
    from sdstudio.core.samplers import SAMPLERS
    from tests.core.test_control_engine import _tiny_controlnet

    # 1. an A1111 install with a pose ControlNet and ViTPose in the extension's downloads
    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion").mkdir(parents=True)
    unet = diffusers.UNet2DConditionModel.from_pretrained(str(demo.demo_path() / "unet"))
    net_dir = root / "models" / "ControlNet" / "tiny_sd15_openpose"
    _tiny_controlnet(unet, 3).save_pretrained(str(net_dir))
    downloads = root / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads"
    downloads.mkdir(parents=True)
    (downloads / "vitpose").symlink_to(tiny_annotators / "vitpose", target_is_directory=True)
    photo = tmp_path / "pose.png"
    _person_photo().save(photo)
    unload_all()
    library = ModelLibrary(Settings(model_roots=[str(root)]))

    # 2. the tag: kind pose -> the openpose preprocessor and the ControlNet named for it
    request = Request(prompt=f"a dancer {{image:{photo}:0.9:pose}}", steps=2, width=64, height=64, seed=8)
    engine = Engine(library, device="cpu")
    result = engine.run(request.replace(sampler="Euler"))
    assert [k[0] for k in loaded_models()] == ["pose"]
    engine.close()
    assert loaded_models() == []  # closing the engine frees the preprocessor models too
    ours = np.asarray(result.images[0].image).astype(np.int16)
    line = infotext(result.images[0], result)
    assert 'ControlNet 0: "Module: openpose, Model: tiny_sd15_openpose' in line and "Weight: 0.9" in line

    # 3. the same as diffusers' ControlNet pipeline fed the map control_map_for gives
    unit = ControlUnit(InputImage.from_file(photo), "openpose", weight=0.9)
    cmap = control_map_for(unit, (64, 64), library, "cpu")
    assert np.asarray(cmap).max() > 0  # some limbs or points were drawn
    net = diffusers.ControlNetModel.from_pretrained(str(net_dir))
    pipe = diffusers.StableDiffusionControlNetPipeline.from_pretrained(
        str(demo.demo_path()), controlnet=net, safety_checker=None
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = SAMPLERS["Euler"].build(pipe.scheduler.config)
    theirs = pipe(
        "a dancer", image=cmap, num_inference_steps=2, guidance_scale=7.0, width=64, height=64,
        generator=[torch.Generator("cpu").manual_seed(8)], controlnet_conditioning_scale=0.9,
    ).images[0]  # fmt: skip
    assert np.abs(ours - np.asarray(theirs).astype(np.int16)).max() <= 1


def tiny_person_detector(folder: Path, person_bias: float) -> Path:
    """A YOLOS detector with 4 detection tokens; `person_bias` on the person logit decides what it finds."""
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessorPil

    labels = {0: "N/A", 1: "person", 2: "bicycle"}
    config = YolosConfig(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, image_size=[64, 64],
        patch_size=16, num_detection_tokens=4, id2label=labels, label2id={v: k for k, v in labels.items()},
    )  # fmt: skip
    torch.manual_seed(2)
    model = YolosForObjectDetection(config).eval()
    with torch.no_grad():
        model.class_labels_classifier.layers[-1].bias[1] = person_bias
    model.save_pretrained(folder)
    YolosImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(folder)
    return folder


def test_people_boxes_come_from_a_person_detector_when_there_is_one(tiny_annotators: Path) -> None:
    from transformers import AutoImageProcessor, AutoModelForObjectDetection

    from sdstudio.core.control.pose import estimate_people, person_boxes

    settings = Settings()
    annotators = settings.library_path() / "models" / "annotators"
    annotators.mkdir(parents=True)
    (annotators / "vitpose").symlink_to(tiny_annotators / "vitpose", target_is_directory=True)
    detector = tiny_person_detector(annotators / "person_detector", 8.0)
    unload_all()
    library = ModelLibrary(settings)
    picture = _person_photo((120, 96))
    boxes = person_boxes(picture, Annotators(library, "cpu"))
    model = AutoModelForObjectDetection.from_pretrained(str(detector)).eval()
    processor = AutoImageProcessor.from_pretrained(str(detector))
    with torch.no_grad():
        found = model(**processor(images=picture, return_tensors="pt"))
    expected = processor.post_process_object_detection(found, target_sizes=[(96, 120)], threshold=0.3)[0]
    assert len(boxes) == len(expected["boxes"]) == 4
    x0, y0, x1, y1 = expected["boxes"][0].tolist()
    assert boxes[0] == pytest.approx([x0, y0, x1 - x0, y1 - y0])
    assert len(estimate_people(picture, Annotators(library, "cpu"))) == 4  # one pose per person box

    unit = ControlUnit(InputImage.from_pil(picture), "openpose", processor_res=96)
    four = np.asarray(preprocess(picture, unit, (120, 96), Annotators(library, "cpu")))  # now in the cache

    # a detector that sees nobody (replaced in place: the cached map is not used): no people, a black map
    unload_all()
    tiny_person_detector(annotators / "person_detector", -8.0)
    assert estimate_people(picture, Annotators(library, "cpu")) == []
    nobody = np.asarray(preprocess(picture, unit, (120, 96), Annotators(library, "cpu")))
    assert nobody.max() == 0 and four.max() > 0

    # a detector that knows no people is not a person detector: the whole picture is the person again
    config = annotators / "person_detector" / "config.json"
    config.write_text(config.read_text().replace('"person"', '"table"'))
    assert person_boxes(picture, Annotators(library, "cpu")) == [[0.0, 0.0, 120.0, 96.0]]
