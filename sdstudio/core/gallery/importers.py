"""Other tools' PNG metadata: A1111/Forge, Fooocus, ComfyUI, InvokeAI, NovelAI, as an A1111-style record."""

from __future__ import annotations

import json
from collections.abc import Callable

from sdstudio.core.gallery.metadata import ImageParameters, parse_infotext, quote, request_from_params
from sdstudio.core.jsontypes import JsonObject
from sdstudio.core.samplers import find_sampler

# ComfyUI sampler/scheduler names -> A1111 names
COMFY_SAMPLERS = {
    "euler": "Euler",
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS",
    "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
    "dpmpp_sde_gpu": "DPM++ SDE",
    "dpmpp_3m_sde_gpu": "DPM++ 3M SDE",
    "dpmpp_3m_sde": "DPM++ 3M SDE",
    "ddim": "DDIM",
    "uni_pc": "UniPC",
    "lcm": "LCM",
    "ddpm": "DDPM",
}
INVOKE_SCHEDULERS = {
    "euler": "Euler",
    "euler_a": "Euler a",
    "euler_k": "Euler",
    "heun": "Heun",
    "lms": "LMS",
    "lms_k": "LMS Karras",
    "ddim": "DDIM",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_k": "DPM++ 2M Karras",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
    "dpmpp_sde_gpu": "DPM++ SDE",
    "dpmpp_3m_sde_gpu": "DPM++ 3M SDE",
    "dpmpp_2m_sde_k": "DPM++ 2M SDE Karras",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_sde_k": "DPM++ SDE Karras",
    "unipc": "UniPC",
    "lcm": "LCM",
    "kdpm_2": "DPM2",
    "kdpm_2_a": "DPM2 a",
    "pndm": "PLMS",
    "ddpm": "DDPM",
}
NOVELAI_SAMPLERS = {
    "k_euler": "Euler",
    "k_euler_ancestral": "Euler a",
    "k_dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_sde": "DPM++ SDE",
    "k_dpmpp_2s_ancestral": "DPM++ 2S a",
    "ddim": "DDIM",
}


def _params_text(p: JsonObject) -> str:
    keys = [k for k in p if k not in ("Prompt", "Negative prompt") and p[k] not in (None, "")]
    neg = f"\nNegative prompt: {p['Negative prompt']}" if p.get("Negative prompt") else ""
    return f"{p.get('Prompt', '')}{neg}\n" + ", ".join(f"{k}: {quote(p[k])}" for k in keys)


def _result(p: JsonObject, tool: str) -> ImageParameters:
    return ImageParameters(_params_text(p), request_from_params(p), tool, str(p.get("Model", "")), extra=p)


_MALFORMED = (ValueError, KeyError, TypeError, AttributeError, IndexError, StopIteration, RecursionError)


def from_other_tool(text: dict[str, str]) -> ImageParameters:
    """Dispatch on the chunks each tool writes; a chunk that is not what its tool writes (not JSON, not an
    object, odd values) is passed over for the next reader, down to A1111's text or nothing."""
    readers: list[tuple[bool, Callable[[], ImageParameters]]] = [
        ("invokeai_metadata" in text, lambda: _invokeai(_object(text["invokeai_metadata"]))),
        (
            "prompt" in text and ("workflow" in text or text["prompt"].lstrip().startswith("{")),
            lambda: _comfyui(_object(text["prompt"])),
        ),
        (
            text.get("Software", "").startswith("NovelAI") or ("Comment" in text and "Description" in text),
            lambda: _novelai(text),
        ),
        (
            text.get("parameters", "").strip().startswith("{"),  # Fooocus: JSON in `parameters`
            lambda: _fooocus(_object(text["parameters"])),
        ),
    ]
    for applies, read in readers:
        if applies:
            try:
                return read()
            except _MALFORMED:
                continue
    if "parameters" in text:
        raw = text["parameters"].strip()
        p = parse_infotext(raw)
        tool = "Fooocus" if "Fooocus" in str(p.get("Version", "")) or text.get("fooocus_scheme") else "A1111"
        result = _result(p, tool)
        result.infotext = raw
        return result
    return ImageParameters("", None, "unknown")


def _object(raw: str) -> JsonObject:
    """A JSON object, or TypeError."""
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _invokeai(m: JsonObject) -> ImageParameters:
    model = m.get("model") or {}
    p: JsonObject = {
        "Prompt": m.get("positive_prompt", ""),
        "Negative prompt": m.get("negative_prompt", ""),
        "Steps": m.get("steps"),
        "Sampler": INVOKE_SCHEDULERS.get(str(m.get("scheduler", "")), str(m.get("scheduler", ""))),
        "CFG scale": m.get("cfg_scale"),
        "Seed": m.get("seed"),
        "Size": f"{m.get('width', 512)}x{m.get('height', 512)}",
        "Model": model.get("name", "") if isinstance(model, dict) else str(model),
        "Denoising strength": m.get("strength"),
    }
    return _result(p, "InvokeAI")


def _comfyui(graph: JsonObject) -> ImageParameters:
    nodes = {k: v for k, v in graph.items() if isinstance(v, dict) and "class_type" in v}
    sampler = next(n for n in nodes.values() if n["class_type"] in ("KSampler", "KSamplerAdvanced"))
    inputs = sampler["inputs"]

    def text_of(link: object) -> str:
        node = nodes.get(str(link[0])) if isinstance(link, list) and link else None
        for _ in range(len(nodes)):  # a crafted graph may loop
            if node is None:
                break
            if "text" in node["inputs"] and isinstance(node["inputs"]["text"], str):
                return node["inputs"]["text"]
            nxt = node["inputs"].get("conditioning") or node["inputs"].get("text")
            node = nodes.get(str(nxt[0])) if isinstance(nxt, list) and nxt else None
        return ""

    latent: JsonObject = next(
        (n["inputs"] for n in nodes.values() if n["class_type"] == "EmptyLatentImage"), {}
    )
    ckpt = next(
        (n["inputs"].get("ckpt_name", "") for n in nodes.values() if "CheckpointLoader" in n["class_type"]),
        "",
    )
    name = COMFY_SAMPLERS.get(str(inputs.get("sampler_name", "")), str(inputs.get("sampler_name", "")))
    schedule = "Karras" if inputs.get("scheduler") == "karras" else None
    try:
        found = find_sampler(name, schedule)
    except ValueError:  # Karras with a sampler diffusers runs without it: the sampler's own schedule
        found = find_sampler(name)
    p: JsonObject = {
        "Prompt": text_of(inputs.get("positive")),
        "Negative prompt": text_of(inputs.get("negative")),
        "Steps": inputs.get("steps"),
        "Sampler": found.base if found else name,
        "Schedule type": found.schedule if found else None,
        "CFG scale": inputs.get("cfg"),
        "Seed": inputs.get("seed", inputs.get("noise_seed")),
        "Size": f"{latent.get('width', 512)}x{latent.get('height', 512)}",
        "Model": str(ckpt).rsplit(".", 1)[0],
        "Denoising strength": inputs.get("denoise") if inputs.get("denoise") not in (None, 1, 1.0) else None,
    }
    return _result(p, "ComfyUI")


def _novelai(text: dict[str, str]) -> ImageParameters:
    c = _object(text.get("Comment", "{}"))
    p: JsonObject = {
        "Prompt": text.get("Description", c.get("prompt", "")),
        "Negative prompt": c.get("uc", ""),
        "Steps": c.get("steps"),
        "Sampler": NOVELAI_SAMPLERS.get(str(c.get("sampler", "")), str(c.get("sampler", ""))),
        "CFG scale": c.get("scale"),
        "Seed": c.get("seed"),
        "Size": f"{c.get('width', 512)}x{c.get('height', 512)}",
        "Denoising strength": c.get("strength"),
    }
    return _result(p, "NovelAI")


def _fooocus(m: JsonObject) -> ImageParameters:
    res = str(m.get("resolution", "(1024, 1024)")).strip("()[] ").replace(" ", "").split(",")
    p: JsonObject = {
        "Prompt": m.get("full_prompt", m.get("prompt", ""))
        if isinstance(m.get("full_prompt"), str)
        else m.get("prompt", ""),
        "Negative prompt": m.get("negative_prompt", ""),
        "Steps": m.get("steps"),
        "Sampler": COMFY_SAMPLERS.get(str(m.get("sampler", "")), str(m.get("sampler", ""))),
        "Schedule type": "Karras" if m.get("scheduler") == "karras" else None,
        "CFG scale": m.get("guidance_scale"),
        "Seed": m.get("seed"),
        "Size": f"{res[0]}x{res[1]}" if len(res) == 2 else "1024x1024",
        "Model": str(m.get("base_model", "")).rsplit(".", 1)[0],
    }
    return _result(p, "Fooocus")
