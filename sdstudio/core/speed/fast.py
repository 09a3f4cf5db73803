"""The fast path: channels_last, fused QKV attention (SDPA), torch.compile of the UNet and VAE decoder with CUDA
graphs; on the CPU, where it computes bf16 natively: bf16 weights, the text encoder under bf16 autocast, long
self-attention in query blocks (cpu_attention) and blocked low-resolution convolution weights (packed).

Compiled kernels are cached on disk (compile_cache), so only the first start for a model and size compiles.
Sizes: the first size of a model compiles a static graph (fastest, CUDA graphs); a second size compiles once a
shape-generic graph that then serves every further size with no recompile (torch's automatic dynamic shapes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from sdstudio.core.speed.compile_cache import CompiledSizes, use_disk_cache
from sdstudio.core.speed.cpu_attention import use_cpu_attention
from sdstudio.core.speed.packed import forget_packed, pack_weights

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, DiffusionPipeline
    from diffusers.models.autoencoders.vae import DecoderOutput
    from diffusers.utils import BaseOutput
    from transformers.utils import ModelOutput

    # what a wrapped module's forward gives back: a tensor (the VAE decoder), a tuple (return_dict=False), or the
    # output class of diffusers (UNet2DConditionOutput) or transformers (the text encoders' hidden states)
    ForwardOutput: TypeAlias = torch.Tensor | tuple[torch.Tensor, ...] | BaseOutput | ModelOutput


log = logging.getLogger(__name__)

COLD_MESSAGE = "compiling for this size, about a minute the first time…"
WARM_MESSAGE = "loading the compiled model for this size (seconds)…"


@dataclass(frozen=True)
class FastOptions:
    """How fast the fast path goes; the defaults are the measured best on CUDA."""

    compile: bool | None = None  # None: compile on CUDA only (the CPU's compile takes minutes for little)
    mode: str = "reduce-overhead"  # the UNet's torch.compile mode; "reduce-overhead" adds CUDA graphs
    backend: str = "inductor"  # "eager"/"aot_eager" only trace (checks on machines with no time to compile)
    compile_vae: bool = True  # the VAE decoder too (one call per picture: no CUDA graphs)
    vae_mode: str = "default"
    fuse_qkv: bool = True
    channels_last: bool = True
    cpu_bf16: bool | None = None  # None: bf16 UNet on CPUs with native bf16 (AVX512-BF16, AMX)
    blocked_weights: bool = True  # CPU bf16: low-resolution convolutions keep blocked weight copies (memory)
    taesd: AutoencoderTiny | None = (
        None  # an AutoencoderTiny to decode with instead of the VAE (CPU: ~10x faster, softer)
    )


def cpu_has_bf16() -> bool:
    """True when this CPU computes bf16 natively (oneDNN's check: AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class FastPath:
    """What the fast path did to one loaded pipeline, and the sizes compiled in this process."""

    device: str
    options: FastOptions
    model_key: str
    compiled: bool = False
    cpu_dtype: torch.dtype | None = None  # the UNet's dtype on the CPU path (bf16), or None
    seen: set[str] = field(default_factory=set)
    index: CompiledSizes | None = None

    fused: bool = False  # QKV projections fused (copies of to_q/to_k/to_v that patches must reach)
    patched: bool = False  # weights were patched (LoRAs) since the fused copies were made

    def after_patch(self, pipe: DiffusionPipeline, patched: bool) -> None:
        """After LoRAs were patched in or out: copy to_q/to_k/to_v into the fused projections, in place, and drop
        the blocked weight copies."""
        unet = getattr(pipe, "unet", None)
        if unet is not None and (patched or self.patched):
            if self.fused:
                refresh_fused(unet)
            if self.cpu_dtype is not None:
                forget_packed(unet)  # the blocked weight copies are of the weights before the patch
        self.patched = patched

    def size_message(self, width: int, height: int, batch: int) -> str | None:
        """The progress message for a job about to run at this size: None if no compile will happen."""
        if not self.compiled:
            return None
        key = f"{width}x{height}x{batch}"
        if key in self.seen:
            return None
        if self.index is not None and self.index.known(self.model_key, key):
            return WARM_MESSAGE
        return COLD_MESSAGE

    def size_done(self, width: int, height: int, batch: int) -> None:
        """Record a size as compiled (in this process, and on disk for the next start)."""
        key = f"{width}x{height}x{batch}"
        if self.compiled and key not in self.seen:
            self.seen.add(key)
            if self.index is not None:
                self.index.add(self.model_key, key)


def prepare_fast(pipe: DiffusionPipeline, device: str, options: FastOptions, model_key: str) -> FastPath:
    """Apply the fast path to a loaded pipeline, in place; returns what was done."""
    import torch

    state = FastPath(device, options, model_key)
    unet = getattr(pipe, "unet", None)
    vae = getattr(pipe, "vae", None)
    cuda = device.startswith("cuda")
    # 1. fused QKV projections (one matmul instead of three), on attention processors that use SDPA
    if options.fuse_qkv and unet is not None and hasattr(pipe, "fuse_qkv_projections"):
        from diffusers import AutoencoderKL

        pipe.fuse_qkv_projections(unet=True, vae=isinstance(vae, AutoencoderKL))
        state.fused = True
    # 2. channels_last: convolutions in the layout cuDNN and oneDNN run fastest
    if options.channels_last:
        for module in (unet, vae):
            if module is not None:
                module.to(memory_format=torch.channels_last)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 parts (an upcast VAE) on tensor cores
    # 3. CPU: bf16 UNet and VAE decoder where the CPU has bf16 units (inputs cast in, outputs cast back)
    if device == "cpu" and unet is not None:
        want_bf16 = options.cpu_bf16 if options.cpu_bf16 is not None else cpu_has_bf16()
        if want_bf16 and unet.dtype == torch.float32:
            for module in (unet, getattr(vae, "decoder", None)):
                in_bf16(module)
            for name in ("text_encoder", "text_encoder_2"):  # weights stay float32 (LoRAs, embeddings)
                autocast_bf16(getattr(pipe, name, None))
            use_cpu_attention(unet)  # long self-attention in query blocks: 1.5x the flash kernel here
            if options.blocked_weights:
                pack_weights(unet)  # low-resolution convolutions keep blocked weights (no reorder per call)
            state.cpu_dtype = torch.bfloat16
    # 4. torch.compile, with kernels cached on disk
    if options.compile if options.compile is not None else cuda:
        state.index = CompiledSizes(use_disk_cache())
        import torch._inductor.config as inductor_config

        inductor_config.conv_1x1_as_mm = True  # 1x1 convolutions as matmuls: faster in channels_last
        if unet is not None:
            _compile_forward(unet, options.backend, options.mode)
        if options.compile_vae and vae is not None and hasattr(vae, "decoder"):
            _compile_forward(vae.decoder, options.backend, options.vae_mode)
        state.compiled = True
    return state


def refresh_fused(module: torch.nn.Module) -> None:
    """Copy each attention's to_q/to_k/to_v weights into its fused to_qkv (self) or to_kv (cross) projection."""
    import torch

    if module is None:
        return
    with torch.no_grad():
        for attn in module.modules():
            if not getattr(attn, "fused_projections", False):
                continue
            parts = ("to_k", "to_v") if attn.is_cross_attention else ("to_q", "to_k", "to_v")
            fused = attn.to_kv if attn.is_cross_attention else attn.to_qkv
            fused.weight.copy_(torch.cat([getattr(attn, p).weight for p in parts]))
            if fused.bias is not None:
                fused.bias.copy_(torch.cat([getattr(attn, p).bias for p in parts]))


def _compile_forward(module: torch.nn.Module, backend: str, mode: str) -> None:
    """Replace module.forward by its compiled version; CUDA-graph outputs are copied before the next replay."""
    import torch

    eager = module.forward
    inductor = backend == "inductor"
    compiled = torch.compile(eager, backend=backend, mode=mode if inductor else None)
    graphs = inductor and mode in ("reduce-overhead", "max-autotune")

    def forward(*args: object, **kwargs: object) -> ForwardOutput:
        if not graphs:
            return compiled(*args, **kwargs)
        torch.compiler.cudagraph_mark_step_begin()
        return _clone(compiled(*args, **kwargs))

    forward.__wrapped__ = eager  # type: ignore[attr-defined]
    module.forward = forward


def _clone(out: ForwardOutput) -> ForwardOutput:
    """Outputs of a CUDA graph live in its pool and are overwritten by the next replay: own a copy."""
    import torch

    if isinstance(out, torch.Tensor):
        return out.clone()
    if isinstance(out, tuple):
        return tuple(_clone(o) for o in out)
    if hasattr(out, "sample") and isinstance(out.sample, torch.Tensor):
        out.sample = out.sample.clone()
    return out


def in_bf16(module: torch.nn.Module) -> None:
    """Store a module in bf16 (channels_last kept) and let it take and give tensors of the caller's dtype."""
    import torch

    if module is None:
        return
    if next(module.parameters()).dtype != torch.bfloat16:
        module.to(torch.bfloat16)
    if getattr(module.forward, "cast_io", None) is None:
        _cast_io(module, torch.bfloat16)


def autocast_bf16(module: torch.nn.Module | None) -> None:
    """Run a float32 module's matmuls in bf16 on the CPU (autocast) and give float32 back, hidden states too:
    the text encoder in half the time, its embeddings within about 1 % (relative L2) of float32's."""
    import torch

    if module is None or getattr(module.forward, "autocast", None) is not None:
        return
    eager = module.forward

    def back(x: object) -> object:
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            return x.float()
        if isinstance(x, tuple):
            return tuple(back(v) for v in x)
        if isinstance(x, dict):  # transformers' ModelOutput: keys set in place keep its attributes in step
            for key, value in x.items():
                x[key] = back(value)
        return x

    def forward(*args: object, **kwargs: object) -> ForwardOutput:
        # no cast cache: it would hold a fresh bf16 copy of every weight per call (page faults; 2x the time)
        with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
            out = eager(*args, **kwargs)
        return back(out)

    forward.__wrapped__ = eager  # type: ignore[attr-defined]
    forward.autocast = torch.bfloat16  # type: ignore[attr-defined]
    module.forward = forward


def _cast_io(module: torch.nn.Module, dtype: torch.dtype) -> None:
    """Let a module stored in `dtype` take and give tensors of the caller's dtype."""
    import inspect

    import torch

    eager = module.forward
    # the timestep stays as given: in bf16 999 becomes 1000 and 958.6 becomes 960 (the UNet makes its time
    # embedding in float32 and casts that to the sample's dtype itself)
    params = list(inspect.signature(eager).parameters)
    kept = params.index("timestep") - 1 if "timestep" in params[1:] else -1  # its index in *args

    def cast(x: object) -> object:
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            return x.to(dtype)
        if isinstance(x, dict):
            return {k: cast(v) for k, v in x.items()}
        return x

    def forward(sample: torch.Tensor, *args: object, **kwargs: object) -> ForwardOutput:
        back = sample.dtype
        out = eager(
            cast(sample),
            *(a if i == kept else cast(a) for i, a in enumerate(args)),
            **{k: v if k == "timestep" else cast(v) for k, v in kwargs.items()},
        )
        if isinstance(out, torch.Tensor):
            return out.to(back)
        if isinstance(out, tuple):
            return tuple(o.to(back) if isinstance(o, torch.Tensor) else o for o in out)
        out.sample = out.sample.to(back)
        return out

    forward.__wrapped__ = eager  # type: ignore[attr-defined]
    forward.cast_io = dtype  # type: ignore[attr-defined]
    module.forward = forward


def guard_vae_nan(vae: AutoencoderKL) -> bool:
    """Decode in float32 again when a half-precision decode gives NaN (as diffusers upcasts fp16 SDXL VAEs).

    Returns False where no guard is needed (a float32 VAE, or one diffusers upcasts itself in fp16).
    """
    import torch

    if vae is None or getattr(vae.decode, "nan_guard", False) or vae.dtype == torch.float32:
        return False
    if vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False):
        return False  # the pipeline upcasts it before decoding
    original = vae.decode

    def decode(z: torch.Tensor, *args: object, **kwargs: object) -> DecoderOutput | tuple[torch.Tensor]:
        out = original(z, *args, **kwargs)
        sample = out[0] if isinstance(out, tuple) else out.sample
        if not torch.isnan(sample).any():  # one check per picture (it waits for the device, once)
            return out
        dtype = vae.dtype
        log.warning("the VAE gave NaN in %s; decoding again in float32", str(dtype).replace("torch.", ""))
        vae.to(torch.float32)
        try:
            return original(z.float(), *args, **kwargs)
        finally:
            vae.to(dtype)

    decode.nan_guard = True  # type: ignore[attr-defined]
    vae.decode = decode
    return True
