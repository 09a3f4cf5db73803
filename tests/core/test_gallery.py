"""Gallery store: metadata other tools read, round-trips, imports, search, rebuild, concurrency, lineage."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from sdstudio.core.gallery import GalleryStore, infotext, parse_infotext, read_parameters
from sdstudio.core.gallery.metadata import AI_SOURCE, png_bytes
from sdstudio.core.models import ModelLibrary
from sdstudio.core.request import GeneratedImage, InpaintArea, InputImage, Mode, Request, Result
from sdstudio.core.settings import Settings


def _result(prompt: str = "a red fox in snow", seed: int = 123, **kw) -> Result:
    req = Request(
        prompt=prompt,
        negative_prompt=kw.pop("negative", "blurry, lowres"),
        seed=seed,
        steps=20,
        cfg_scale=7.0,
        width=64,
        height=64,
        sampler="DPM++ 2M Karras",
        **kw,
    )
    img = Image.new("RGB", (64, 64), (seed % 256, 40, 90))
    ImageDraw.Draw(img).text((2, 2), prompt[:8], fill=(255, 255, 255))
    return Result(req, (GeneratedImage(img, seed, req, 0),), "dreamshaper_8", "879db523c3")


@pytest.fixture
def store(tmp_path: Path) -> GalleryStore:
    s = GalleryStore(tmp_path / "outputs", tmp_path / "index.sqlite3")
    yield s
    s.close()


def test_infotext_is_written_as_a1111_writes_it() -> None:
    res = _result(negative="bad hands, ugly")
    text = infotext(res.images[0], res)
    assert text == (
        "a red fox in snow\nNegative prompt: bad hands, ugly\n"
        "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 123, Size: 64x64, "
        "Model hash: 879db523c3, Model: dreamshaper_8, Version: sdstudio 0.1.0"
    )
    init = InputImage.from_pil(Image.new("RGB", (64, 64)))
    mask = InputImage.from_pil(Image.new("L", (64, 64), 255))
    r2 = _result(
        mode=Mode.inpaint, init_image=init, mask=mask, strength=0.6, inpaint_area=InpaintArea.only_masked
    )
    t2 = infotext(r2.images[0], r2)
    assert "Denoising strength: 0.6, Mask blur: 4, Inpaint area: Only masked, Masked area padding: 32" in t2
    quoted = _result(prompt="x").images[0].request.replace(sampler="Euler a")
    res3 = Result(quoted, (GeneratedImage(Image.new("RGB", (8, 8)), 1, quoted),), "my, model: v2")
    assert 'Model: "my, model: v2"' in infotext(res3.images[0], res3)


def test_third_party_sd_parsers_reads_our_png(store: GalleryStore) -> None:
    from sd_parsers import ParserManager

    (record,) = store.add(_result(negative="bad hands"))
    info = ParserManager().parse(record.path)
    assert info is not None
    sampler = info.samplers[0]
    assert info.full_prompt == "a red fox in snow" and info.full_negative_prompt == "bad hands"
    assert sampler.name == "DPM++ 2M"
    params = sampler.parameters
    assert str(params["seed"]) == "123" and str(params["steps"]) == "20" and float(params["cfg_scale"]) == 7.0


def test_png_carries_xmp_ai_label_and_round_trips(store: GalleryStore) -> None:
    init = InputImage.from_pil(Image.new("RGB", (64, 64), (1, 2, 3)))
    res = _result(mode=Mode.img2img, init_image=init, strength=0.5, styles=("hands",), clip_skip=2)
    (record,) = store.add(res)
    with Image.open(record.path) as img:
        assert AI_SOURCE in img.text["XML:com.adobe.xmp"]
    params = read_parameters(record.path)
    assert params.tool == "sdstudio" and params.request.init_image is None  # hashes only in the file
    full = store.request_of(record)
    assert full == res.images[0].request  # inputs resolved from the store by content hash
    assert store.get(record.id).seed == 123 and record.mode == "img2img"


def _png(tmp_path: Path, name: str, chunks: dict[str, str]) -> Path:
    info = PngInfo()
    for k, v in chunks.items():
        info.add_text(k, v)
    path = tmp_path / name
    Image.new("RGB", (32, 32), (10, 20, 30)).save(path, pnginfo=info)
    return path


A1111 = (
    "masterpiece, (a cat:1.2) on a sofa\nNegative prompt: lowres, bad anatomy\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3995512471, Size: 512x768, "
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "add_detail: 7c6bad76eb54", Version: v1.10.1'
)
COMFY = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "beautiful scenery nature glass bottle landscape", "clip": ["4", 1]},
    },
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
}
INVOKE = {
    "generation_mode": "txt2img",
    "positive_prompt": "a lighthouse",
    "negative_prompt": "fog",
    "width": 768,
    "height": 512,
    "seed": 42,
    "steps": 30,
    "cfg_scale": 7.5,
    "scheduler": "dpmpp_2m_k",
    "model": {"name": "stable-diffusion-v1-5", "base": "sd-1"},
}
FOOOCUS = {
    "prompt": "a castle on a hill",
    "negative_prompt": "blurry",
    "resolution": "(896, 1152)",
    "guidance_scale": 4.0,
    "sharpness": 2.0,
    "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras",
    "seed": 987654,
    "steps": 30,
    "base_model": "juggernautXL_v8Rundiffusion.safetensors",
    "version": "Fooocus v2.5.5",
}
NOVELAI = {
    "prompt": "1girl, silver hair",
    "steps": 28,
    "height": 832,
    "width": 1216,
    "scale": 5.0,
    "uncond_scale": 1.0,
    "seed": 1234567,
    "sampler": "k_euler_ancestral",
    "uc": "lowres, bad hands",
}


@pytest.mark.parametrize(
    ("chunks", "tool", "expect"),
    [
        (
            {"parameters": A1111},
            "A1111",
            {
                "prompt": "masterpiece, (a cat:1.2) on a sofa",
                "negative_prompt": "lowres, bad anatomy",
                "seed": 3995512471,
                "steps": 28,
                "sampler": "DPM++ 2M Karras",
                "cfg_scale": 6.5,
                "width": 512,
                "height": 768,
                "model": "v1-5-pruned-emaonly",
            },
        ),
        (
            {"prompt": json.dumps(COMFY), "workflow": "{}"},
            "ComfyUI",
            {
                "prompt": "beautiful scenery nature glass bottle landscape",
                "negative_prompt": "text, watermark",
                "seed": 156680208700286 % 2**64,
                "steps": 20,
                "sampler": "Euler",
                "cfg_scale": 8.0,
                "width": 512,
                "height": 512,
                "model": "v1-5-pruned-emaonly",
            },
        ),
        (
            {"invokeai_metadata": json.dumps(INVOKE)},
            "InvokeAI",
            {
                "prompt": "a lighthouse",
                "negative_prompt": "fog",
                "seed": 42,
                "steps": 30,
                "sampler": "DPM++ 2M Karras",
                "cfg_scale": 7.5,
                "width": 768,
                "height": 512,
                "model": "stable-diffusion-v1-5",
            },
        ),
        (
            {"parameters": json.dumps(FOOOCUS), "fooocus_scheme": "fooocus"},
            "Fooocus",
            {
                "prompt": "a castle on a hill",
                "negative_prompt": "blurry",
                "seed": 987654,
                "steps": 30,
                "cfg_scale": 4.0,
                "width": 896,
                "height": 1152,
                "model": "juggernautXL_v8Rundiffusion",
                "sampler": "DPM++ 2M SDE Karras",
            },
        ),
        (
            {"Software": "NovelAI", "Description": "1girl, silver hair", "Comment": json.dumps(NOVELAI)},
            "NovelAI",
            {
                "prompt": "1girl, silver hair",
                "negative_prompt": "lowres, bad hands",
                "seed": 1234567,
                "steps": 28,
                "sampler": "Euler a",
                "cfg_scale": 5.0,
                "width": 1216,
                "height": 832,
            },
        ),
    ],
)
def test_other_tools_pngs_import(
    tmp_path: Path, store: GalleryStore, chunks: dict, tool: str, expect: dict
) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    path = _png(folder, f"{tool}.png", chunks)
    params = read_parameters(path)
    assert params.tool == tool
    req = params.request
    for key, value in expect.items():
        assert getattr(req, key) == value, key
    assert store.index_folder(folder) == 1  # indexed in place, not copied
    (record,) = store.search(expect["prompt"].split(",")[0].split()[0])
    assert record.path == str(path.resolve()) and record.source == tool
    assert store.request_of(record).prompt == expect["prompt"]
    assert not list(store.root.rglob(f"{tool}.png"))


def test_parse_infotext_handles_quotes_and_multiline_prompts() -> None:
    p = parse_infotext(
        'line one\nline two\nNegative prompt: neg\nSteps: 5, Sampler: Euler a, Model: "a, b", Seed: 7'
    )
    assert p["Prompt"] == "line one\nline two" and p["Negative prompt"] == "neg"
    assert p["Model"] == "a, b" and p["Seed"] == "7"


def test_search_by_word_and_phrase_and_filters(store: GalleryStore) -> None:
    store.add(_result("a red fox in deep snow", seed=1))
    store.add(_result("snow covered mountains at dawn", seed=2))
    store.add(_result("red sports car", seed=3, negative="snow"))
    assert {r.seed for r in store.search("snow")} == {1, 2, 3}  # negative prompts are searched too
    assert {r.seed for r in store.search("red")} == {1, 3}
    assert [r.seed for r in store.search('"deep snow"')] == [1]
    assert [r.seed for r in store.search('"snow deep"')] == []
    assert [r.seed for r in store.search("mount")] == [2]  # prefix of the word being typed
    assert [r.seed for r in store.search()] == [3, 2, 1]  # newest first
    assert store.count("red") == 2 and store.search("fox", model="other") == []
    store.set_star(store.search("car")[0].id, True)
    assert [r.seed for r in store.search(starred=True)] == [3]
    assert store.search("a AND OR NOT ( ) * ^") is not None  # user text never breaks FTS syntax


def test_deleted_index_is_rebuilt_from_the_files(tmp_path: Path) -> None:
    s = GalleryStore(tmp_path / "out", tmp_path / "db.sqlite3")
    for i in range(3):
        s.add(_result(f"picture number {i}", seed=i))
    s.set_star(s.search("number 1")[0].id, True)
    s.close()
    for f in tmp_path.glob("db.sqlite3*"):
        f.unlink()
    s2 = GalleryStore(tmp_path / "out", tmp_path / "db.sqlite3")
    assert s2.count() == 3 and [r.seed for r in s2.search(starred=True)] == [1]
    assert s2.search("number 2")[0].prompt == "picture number 2"
    s2.close()


def test_files_added_or_deleted_outside_are_picked_up_by_rescan(store: GalleryStore, tmp_path: Path) -> None:
    (a,) = store.add(_result("kept", seed=1))
    (b,) = store.add(_result("removed outside", seed=2))
    Path(b.path).unlink()
    other = _result("copied in", seed=3)
    (store.root / "manual").mkdir()
    (store.root / "manual" / "x.png").write_bytes(png_bytes(other.images[0], other))
    assert store.rescan() == 1
    assert sorted(r.prompt for r in store.search()) == ["copied in", "kept"]


def test_corrupt_and_foreign_files_in_the_folder_are_skipped(store: GalleryStore) -> None:
    (kept,) = store.add(_result("kept", seed=1))
    (store.root / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n and then nothing")
    (store.root / "empty.png").write_bytes(b"")
    (store.root / "notes.txt").write_text("not a picture")
    Image.new("RGB", (32, 32), (9, 9, 9)).save(store.root / "plain.png")  # a picture with no parameters
    store.rescan()
    by_name = {Path(r.path).name: r for r in store.search()}
    assert set(by_name) == {Path(kept.path).name, "plain.png"}
    assert store.request_of(by_name["plain.png"]) is None  # listed, but nothing to reuse
    assert store.thumbnail(by_name["plain.png"].id).is_file()
    (store.root / "plain.png").write_bytes(b"broken later")
    assert store.request_of(by_name["plain.png"]) is None  # a file broken after indexing: no exception


def test_writer_and_reader_threads_work_at_once(store: GalleryStore) -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for i in range(25):
                store.add(_result(f"concurrent image {i}", seed=i))
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    def reader() -> None:
        try:
            while not done.is_set():
                store.search("concurrent")
                store.count()
        except BaseException as e:
            errors.append(e)

    threads = [
        threading.Thread(target=writer),
        threading.Thread(target=reader),
        threading.Thread(target=reader),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and store.count("concurrent") == 25


def test_failure_between_write_and_rename_leaves_nothing(
    store: GalleryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(src, dst):
        raise OSError("disk unplugged")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk unplugged"):
        store.add(_result())
    monkeypatch.undo()
    assert [p for p in store.root.rglob("*") if p.is_file() and ".sdstudio" not in p.parts] == []
    assert store.count() == 0


def test_thumbnail_made_cached_and_regenerated(store: GalleryStore) -> None:
    (record,) = store.add(_result())
    thumb = store.thumbnail(record.id)
    with Image.open(thumb) as t:
        assert t.format == "WEBP" and max(t.size) <= 256
    assert store.thumbnail(record.id) == thumb
    thumb.unlink()
    assert store.thumbnail(record.id).exists()


def test_delete_sends_to_trash(store: GalleryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (record,) = store.add(_result())
    assert store.delete(record.id)
    assert not Path(record.path).exists() and store.get(record.id) is None
    assert list((tmp_path / "xdg").rglob(Path(record.path).name))  # in the trash, not gone


def test_lineage_of_inpaint_of_img2img_of_txt2img(
    demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdstudio.core.engine import Engine
    from sdstudio.core.jobs import JobFinished, JobQueue

    store = GalleryStore(tmp_path / "out", tmp_path / "db.sqlite3")
    queue = JobQueue(engine_factory=lambda: Engine(ModelLibrary(Settings.load()), device="cpu"), store=store)
    base = Request(prompt="a house", steps=2, width=64, height=64, seed=5)

    def run(req: Request):
        job = queue.submit(req)
        queue.run_pending()
        final = queue.wait(job, 1)
        assert isinstance(final, JobFinished)
        return final.records[0], final.result.images[0].image

    first, img1 = run(base)
    second, img2 = run(base.replace(mode=Mode.img2img, init_image=InputImage.from_pil(img1), strength=0.5))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    third, _ = run(
        base.replace(mode=Mode.inpaint, init_image=InputImage.from_pil(img2), mask=InputImage.from_pil(mask))
    )
    assert [r.id for r in store.lineage(third.id)] == [third.id, second.id, first.id]
    assert store.lineage(third.id)[-1].mode == "txt2img"
    assert store.request_of(third).mask == InputImage.from_pil(mask)
    store.close()


def test_keyset_paging_matches_offset_paging(store: GalleryStore) -> None:
    for i in range(7):
        store.add(_result(f"page {i}", seed=i))
    everything = store.search(limit=100)
    first = store.search(limit=3)
    second = store.search(limit=3, after=first[-1])
    assert first + second == everything[:6] and second == store.search(limit=3, offset=3)
