"""LoRA training on the tiny demo model: dataset rules, the loss falls, pictures move toward the training
pictures, the file patches back by the LoRA formula in A1111's key layout, and resume continues exactly."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from sdstudio.core.errors import Cancelled
from sdstudio.core.request import RequestError
from sdstudio.core.settings import Settings
from sdstudio.core.training import TrainConfig, Trainer, bucket_for, scan_dataset

RED = (220, 30, 30)


def _red_dataset(root: Path, n: int = 2) -> Path:
    folder = root / "ds" / "2_redstyle"
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (64, 64), RED).save(folder / f"red{i}.png")
    return root / "ds"


def test_dataset_captions_repeats_buckets_and_bad_files(tmp_path: Path) -> None:
    concept = tmp_path / "3_fox"
    concept.mkdir()
    Image.new("RGB", (96, 64)).save(concept / "wide.png")
    (concept / "wide.txt").write_text("a fox, snow", encoding="utf-8")
    Image.new("RGB", (64, 64)).save(concept / "plain.jpg")
    Image.new("RGB", (20, 20)).save(concept / "tiny.png")
    Image.new("CMYK", (64, 64)).save(concept / "print.jpg")
    Image.new("I;16", (64, 64)).save(concept / "deep.png")
    (concept / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    data = scan_dataset(tmp_path, trigger="foxstyle")
    assert [(i.path.name, i.caption, i.repeats) for i in data.items] == [
        ("plain.jpg", "foxstyle", 3),
        ("wide.png", "foxstyle, a fox, snow", 3),
    ]
    assert sorted(p.name for p, _ in data.skipped) == ["broken.png", "deep.png", "print.jpg", "tiny.png"]
    assert data.epoch_length == 6 and data.tag_frequency["3_fox"]["foxstyle"] == 2
    w, h = bucket_for(1536, 1024, 512)  # aspect kept, area about 512², multiples of 64
    assert (w % 64, h % 64) == (0, 0) and abs(w / h - 1.5) < 0.2 and w * h <= 512 * 512
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RequestError, match="no usable pictures"):
        scan_dataset(empty)


def test_options_are_checked_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(RequestError, match="resolution"):
        TrainConfig(tmp_path, resolution=500).validate()
    with pytest.raises(RequestError, match="safetensors"):
        TrainConfig(tmp_path, output=tmp_path / "x.ckpt").validate()
    with pytest.raises(RequestError, match="sample prompt"):
        TrainConfig(tmp_path, sample_every=10).validate()


def _config(root: Path, **kw: Any) -> TrainConfig:
    base = {
        "model": "demo",
        "output": root / "loras" / "redstyle.safetensors",
        "steps": 40,
        "rank": 8,
        "alpha": 8,
        "lr": 5e-2,
        "resolution": 64,
        "locon": True,
        "trigger": "redstyle",
        "device": "cpu",
    }
    return TrainConfig(_red_dataset(root) if not (root / "ds").exists() else root / "ds", **(base | kw))


def _eval_loss(pipe: Any, latents: torch.Tensor, embeds: torch.Tensor) -> float:
    """The denoising loss on fixed noise and timesteps: comparable with and without the LoRA."""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler.from_config(pipe.scheduler.config)
    g = torch.Generator().manual_seed(123)
    t = torch.linspace(50, 950, 8).long()
    x0 = latents.expand(8, -1, -1, -1)
    noise = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        pred = pipe.unet(sched.add_noise(x0, noise, t), t, embeds.expand(8, -1, -1)).sample
    return float(torch.nn.functional.mse_loss(pred, noise))


def _patch_by_formula(pipe: Any, tensors: dict[str, torch.Tensor]) -> int:
    """W' = W + (alpha/rank)·up@down for every kohya key (A1111's layout), written out here by hand."""
    modules = {"lora_unet_" + n.replace(".", "_"): m for n, m in pipe.unet.named_modules()}
    keys = {k.rsplit(".lora_down.weight", 1)[0] for k in tensors if k.endswith(".lora_down.weight")}
    with torch.no_grad():
        for key in keys:
            down, up = tensors[f"{key}.lora_down.weight"], tensors[f"{key}.lora_up.weight"]
            scale = float(tensors[f"{key}.alpha"]) / down.shape[0]
            w = modules[key].weight
            w += (scale * (up.flatten(1) @ down.flatten(1))).reshape(w.shape)
    return len(keys)


def test_training_lowers_the_loss_moves_pictures_and_patches_back(
    demo_home: Path, sdstudio_home: Path, tmp_path: Path
) -> None:
    import diffusers
    from safetensors.torch import load_file

    from sdstudio.core import demo
    from sdstudio.core.engine import Engine
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.request import Request

    library = ModelLibrary(Settings.load())
    lora_folder = library.settings.library_path() / "models" / "Lora"  # where <lora:name> finds it
    config = _config(tmp_path, output=lora_folder / "redstyle.safetensors")
    result = Trainer(config, library).run()
    assert result.steps == 40 and len(result.losses) == 40 and result.peak_memory > 0

    # the file: kohya/A1111 keys and metadata
    tensors = load_file(str(result.output))
    assert all(k.startswith("lora_unet_") for k in tensors)
    from safetensors import safe_open

    with safe_open(str(result.output), "pt") as f:
        meta = f.metadata()
    assert meta["ss_network_dim"] == "8" and meta["ss_base_model_version"] == "sd_v1"
    assert meta["ss_steps"] == "40" and '"redstyle": 2' in meta["ss_tag_frequency"]

    # the loss on fixed noise falls once the file is patched in by the formula
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(str(demo.demo_path()))
    picture = np.asarray(Image.new("RGB", (64, 64), RED), dtype=np.float32) / 127.5 - 1
    with torch.no_grad():
        x = torch.from_numpy(picture).permute(2, 0, 1)[None]
        latents = pipe.vae.encode(x).latent_dist.mean * pipe.vae.config.scaling_factor
        embeds = pipe.encode_prompt("redstyle", "cpu", 1, False)[0]
    before = _eval_loss(pipe, latents, embeds)
    assert _patch_by_formula(pipe, tensors) == len(tensors) // 3
    after = _eval_loss(pipe, latents, embeds)
    assert after < 0.97 * before, (before, after)  # seen: 1.075 -> 1.015 after 40 steps

    # pictures made with the LoRA (through the engine's own patcher) come closer to the training picture as
    # this random-weight VAE renders it (its decoder turns every latent purplish, red included)
    engine = Engine(library, device="cpu")
    plain = engine.run(Request(prompt="redstyle", steps=8, width=64, height=64, seed=3)).images[0].image
    lora = engine.run(Request(prompt="redstyle <lora:redstyle:1>", steps=8, width=64, height=64, seed=3))
    with torch.no_grad():  # the VAE is untouched by the LoRA
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample[0]
    target = ((decoded.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255)

    def distance(im: Image.Image) -> float:
        return float(np.abs(np.asarray(im, dtype=np.float32) - target).mean())

    assert distance(lora.images[0].image) < distance(plain), "the LoRA did not move the picture"


def test_resume_continues_with_the_same_losses(demo_home: Path, sdstudio_home: Path, tmp_path: Path) -> None:
    from sdstudio.core.models import ModelLibrary

    library = ModelLibrary(Settings.load())
    straight = Trainer(_config(tmp_path / "a", steps=10, save_every=3), library).run().losses
    config = _config(tmp_path / "b", steps=10, save_every=3)
    cancel = threading.Event()

    def stop_after_six(p: Any) -> None:
        if p.phase == "training" and p.step == 6:
            cancel.set()

    with pytest.raises(Cancelled):
        Trainer(config, library).run(on_progress=stop_after_six, cancel=cancel)
    assert not config.output.exists() and (config.state_dir / "checkpoint.pt").is_file()
    resumed = Trainer(config, library).run(resume=True).losses
    assert len(resumed) == 10
    np.testing.assert_allclose(resumed, straight, rtol=1e-5)


def test_sdxl_with_both_text_encoders_writes_keys_every_loader_maps(
    sdstudio_home: Path, tmp_path: Path
) -> None:
    from sdstudio.core import demo
    from sdstudio.core.lora import read_lora
    from sdstudio.core.lora.names import key_map
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.settings import Settings

    folder = tmp_path / "tiny-sdxl"
    pipe = demo.tiny_sdxl_pipeline()
    pipe.save_pretrained(str(folder), safe_serialization=True)
    config = _config(tmp_path, model=str(folder), steps=3, train_text_encoder=True, locon=False)
    result = Trainer(config, ModelLibrary(Settings())).run()
    lora = read_lora(result.output)
    prefixes = {name.split("_", 2)[0] + "_" + name.split("_", 2)[1] for name in lora.groups}
    assert prefixes == {"lora_unet", "lora_te1", "lora_te2"}
    known = key_map(pipe)
    assert [name for name in lora.groups if name not in known] == []  # A1111/ComfyUI spellings, all mapped
    assert lora.metadata["ss_base_model_version"] == "sdxl_base_v1-0"


def test_sample_pictures_reach_the_gallery_during_the_run_with_their_step(
    demo_home: Path, sdstudio_home: Path, tmp_path: Path
) -> None:
    from sdstudio.core.engine import Engine
    from sdstudio.core.gallery import GalleryStore
    from sdstudio.core.jobs import JobFailed, JobFinished, JobQueue
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.replay import lineage
    from sdstudio.core.training.task import describe, training_task

    library = ModelLibrary(Settings.load())
    store = GalleryStore(tmp_path / "outputs", tmp_path / "index.sqlite3")
    config = _config(tmp_path, steps=2, sample_every=1, sample_prompts=("a redstyle cup",), sample_steps=2)
    in_gallery_at: dict[int, int] = {}  # training step -> pictures already in the gallery when it ended

    def on_train(p: Any) -> None:
        if p.phase == "training":
            in_gallery_at[p.step] = store.count()

    queue = JobQueue(engine_factory=lambda: Engine(library, device="cpu"), store=store)  # as the app's
    done = threading.Event()
    finished: list[Any] = []
    ends = (JobFinished, JobFailed)
    queue.subscribe(lambda m: (finished.append(m), done.set()) if isinstance(m, ends) else None)
    thread, stop = queue.start_thread()
    try:
        task = training_task(config, library, on_train=on_train, gallery=store)
        queue.submit(describe(config), task=task)
        assert done.wait(300), "the training job did not finish"
    finally:
        stop.set()
        thread.join(10)
    try:
        # 1. the sample of step 1 was in the gallery before step 2 ended; the job's own result adds none
        assert isinstance(finished[0], JobFinished), finished
        assert in_gallery_at == {1: 0, 2: 1} and finished[0].records == ()
        records = store.search()
        assert [r.origin for r in records] == ["trained LoRA redstyle step 2", "trained LoRA redstyle step 1"]
        assert all(r.prompt == "a redstyle cup <lora:redstyle:1>" and r.width == 64 for r in records)
        # 2. the picture records the run and step: in its infotext, and in its lineage
        text = Image.open(records[0].path).text["parameters"]
        assert "Origin: trained LoRA redstyle step 2" in text
        (only,) = lineage(Path(records[1].path), store)
        assert only.recipe.origin["step"] == 1 and only.recipe.origin["run"] == str(config.state_dir)
        assert only.recipe.unhonoured == ()
    finally:
        store.close()
