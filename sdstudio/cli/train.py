"""`sdstudio train DATASET --model M -o OUT.safetensors`: a LoRA trained on a folder of pictures."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from sdstudio.cli import CliError, open_gallery
from sdstudio.cli.bars import TrainBar


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a LoRA on a folder of pictures (kohya layout; A1111/ComfyUI load it)"
    )
    p.add_argument(
        "dataset", type=Path, metavar="DATASET", help="pictures, same-name .txt captions, N_concept folders"
    )
    p.add_argument("--model", default="", metavar="M", help="the base model (name, hash, file or folder)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.safetensors")
    p.add_argument("--steps", type=int, default=0, metavar="N", help="training steps (default: by --epochs)")
    p.add_argument(
        "--epochs", type=int, default=0, metavar="N", help="epochs when --steps is not given (default 10)"
    )
    p.add_argument("--rank", type=int, default=16, metavar="N", help="network dim (default 16)")
    p.add_argument("--alpha", type=float, default=8.0, metavar="F", help="network alpha (default 8)")
    p.add_argument("--lr", type=float, default=1e-4, metavar="F", help="UNet learning rate (default 1e-4)")
    p.add_argument(
        "--te-lr", type=float, default=5e-5, metavar="F", help="text encoder learning rate (default 5e-5)"
    )
    p.add_argument("--text-encoder", action="store_true", help="train the text encoder(s) too")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size (default 1)")
    p.add_argument(
        "--resolution", type=int, default=512, metavar="PX", help="training resolution (default 512)"
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed (default 0)")
    p.add_argument("--scheduler", default="constant", metavar="NAME",
                   help="constant, constant_with_warmup, cosine, cosine_with_warmup or linear")  # fmt: skip
    p.add_argument("--warmup", type=int, default=0, metavar="N", help="learning-rate warm-up steps")
    p.add_argument("--locon", action="store_true", help="also train the convolutions (LyCORIS LoCon)")
    p.add_argument("--noise-offset", type=float, default=0.0, metavar="F", help="noise offset (0.05-0.1)")
    p.add_argument(
        "--min-snr-gamma", type=float, default=0.0, metavar="F", help="min-SNR weighting (about 5)"
    )
    p.add_argument("--trigger", default="", metavar="WORD", help="trigger word put in every caption")
    p.add_argument("--caption", default="", metavar="TEMPLATE", help="caption for pictures without a .txt")
    p.add_argument(
        "--sample-prompt", action="append", default=[], metavar="TEXT", help="sample prompt (repeatable)"
    )
    p.add_argument("--sample-every", type=int, default=0, metavar="N", help="sample pictures every N steps")
    p.add_argument("--save-every", type=int, default=0, metavar="N", help="resume checkpoint every N steps")
    p.add_argument("--precision", default="auto", help="auto, fp32, bf16 or fp16 (auto: fp32 on the CPU)")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint beside OUT")
    p.add_argument(
        "--preview", action="store_true", help="list the pictures, buckets and captions, then stop"
    )
    p.set_defaults(func=run)


def config_from(args: argparse.Namespace):  # noqa: ANN201 - a TrainConfig
    from sdstudio.core.training import TrainConfig

    return TrainConfig(
        dataset=args.dataset, model=args.model, output=args.output, steps=args.steps, epochs=args.epochs,
        rank=args.rank, alpha=args.alpha, lr=args.lr, text_encoder_lr=args.te_lr,
        train_text_encoder=args.text_encoder, batch=args.batch, resolution=args.resolution, seed=args.seed,
        scheduler=args.scheduler, warmup_steps=args.warmup, locon=args.locon, noise_offset=args.noise_offset,
        min_snr_gamma=args.min_snr_gamma, trigger=args.trigger, caption_template=args.caption,
        save_every=args.save_every, sample_every=args.sample_every, sample_prompts=tuple(args.sample_prompt),
        precision=args.precision, device=args.device,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from sdstudio.core.errors import Cancelled, EngineError
    from sdstudio.core.models import ModelLibrary
    from sdstudio.core.request import RequestError
    from sdstudio.core.root import load_settings
    from sdstudio.core.training import Trainer, preview, scan_dataset

    try:
        config = config_from(args).validate()
        data = scan_dataset(config.dataset, config.trigger, config.caption_template)
    except RequestError as e:
        raise CliError(str(e)) from None
    for line in preview(data, config.resolution):
        print(line)
    if args.preview:
        return 0
    print(f"checkpoints and samples: {config.state_dir}")
    settings = load_settings()
    gallery = (
        open_gallery(settings.outputs_path(), "samples stay in the run folder")
        if config.sample_every
        else None
    )
    on_sample = None
    if gallery is not None:  # each sample picture into the gallery as it is made, with its run and step
        from sdstudio.core.training.task import gallery_sink

        on_sample = gallery_sink(config, gallery, _print_saved)
    cancel = threading.Event()
    try:
        result = Trainer(config, ModelLibrary(settings), on_sample=on_sample).run(
            on_progress=TrainBar(), cancel=cancel, resume=args.resume
        )
    except KeyboardInterrupt:
        cancel.set()
        raise CliError(f"interrupted; continue with --resume (checkpoints in {config.state_dir})") from None
    except Cancelled:
        raise CliError(f"cancelled; continue with --resume (checkpoints in {config.state_dir})") from None
    except (EngineError, RequestError) as e:
        raise CliError(str(e)) from None
    finally:
        if gallery is not None:
            gallery.close()
    mb = result.peak_memory / 2**20
    print(
        f"{result.output}  {result.steps} steps, final loss {result.losses[-1]:.4f}, peak memory {mb:,.0f} MiB"
    )
    return 0


def _print_saved(records: list) -> None:
    for r in records:
        print(f"\nsample: {r.path} ({r.origin})", file=sys.stderr)
