"""The demo vision-language model: SmolLM2's real text model with a small vision tower trained here.

No pretrained VLM or CLIP weights can be installed offline, so the demo VLM is put
together: the language model is SmolLM2-135M-Instruct (the text demo's GGUF,
converted once), and the package ships only what was trained for it (a 4-layer CLIP
vision tower at 64 x 64 pixels, the LLaVA projector and the ``<image>`` token's
embedding row), a few megabytes, in ``demo_vlm/``. :func:`assemble` joins them into
an ordinary LLaVA checkpoint folder that ``AutoProcessor`` and
``AutoModelForImageTextToText`` load. It recognises the imaging modality and body
region of the images it was trained on (``scripts/demo_vlm/``, ``docs/demo-vlm.md``);
it is not a medical model.

torch and transformers are imported inside the functions, as everywhere in the core.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...locks import file_lock

if TYPE_CHECKING:
    from ..handle import ModelHandle, ModelOptions

DATA = Path(__file__).resolve().parent / "demo_vlm"
SPEC_FILE = DATA / "demo_vlm.json"
WEIGHTS_FILE = DATA / "vision.safetensors"
EMBED_KEY = "image_token_embedding"
"""The trained row of the input embeddings for ``<image>`` (the rest of the file is vision tower + projector)."""


def load_spec(path: Path = SPEC_FILE) -> dict[str, Any]:
    """The configs the assembly needs: vision tower, projector, image token, processor, chat template."""
    spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return spec


def build(language_folder: Path, spec: dict[str, Any], weights: Path | None = None) -> tuple[Any, Any]:
    """A LLaVA model and processor in memory: the language model from ``language_folder``.

    The vision tower and projector come from ``weights`` (a safetensors file as
    :func:`save_weights` writes it), or keep their fresh initialisation when it is
    None (training starts from there; seed torch first).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlavaConfig, LlavaForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(language_folder)
    tokenizer.add_tokens([spec["image_token"]], special_tokens=True)
    tokenizer.chat_template = spec["chat_template"]
    text = AutoModelForCausalLM.from_pretrained(language_folder, dtype=torch.float32)
    old = text.get_input_embeddings().weight.shape[0]
    text.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():  # a deterministic start for the new row: the mean of the others
        text.get_input_embeddings().weight[old:] = text.get_input_embeddings().weight[:old].mean(0)
    config = LlavaConfig(
        vision_config=dict(spec["vision_config"], model_type="clip_vision_model"),
        text_config=text.config,
        image_token_index=tokenizer.convert_tokens_to_ids(spec["image_token"]),
        image_seq_length=spec["image_seq_length"],
        **spec["projector"],
    )
    model = LlavaForConditionalGeneration(config)
    # The fresh language model is replaced by the real one (weights tied as SmolLM2 ties them).
    model.model.language_model = text.model
    model.lm_head = text.lm_head
    model.tie_weights()
    if weights is not None:
        load_weights(model, weights)
    model.eval()
    return model, processor(tokenizer, spec)


def processor(tokenizer: Any, spec: dict[str, Any]) -> Any:
    """The LlavaProcessor: a PIL-only CLIP image processor (no torchvision needed) and the tokenizer."""
    from transformers import LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    return LlavaProcessor(
        image_processor=CLIPImageProcessorPil(**spec["image_processor"]),
        tokenizer=tokenizer,
        patch_size=spec["vision_config"]["patch_size"],
        vision_feature_select_strategy=spec["projector"]["vision_feature_select_strategy"],
        num_additional_image_tokens=1,  # CLIP's class token, dropped again by the "default" strategy
        chat_template=spec["chat_template"],
        image_token=spec["image_token"],
    )


def trained_parameters(model: Any) -> dict[str, Any]:
    """What training changes: the vision tower, the projector and the ``<image>`` embedding row."""
    inner = model.model
    state = {f"vision_tower.{k}": v for k, v in inner.vision_tower.state_dict().items()}
    state.update({f"multi_modal_projector.{k}": v for k, v in inner.multi_modal_projector.state_dict().items()})
    state[EMBED_KEY] = inner.language_model.get_input_embeddings().weight[model.config.image_token_id]
    return state


def save_weights(model: Any, path: Path, dtype: str = "float16") -> None:
    """Write :func:`trained_parameters` as one safetensors file (half precision: a few MB)."""
    import torch
    from safetensors.torch import save_file

    cast = getattr(torch, dtype)
    tensors = {k: v.detach().to(cast).contiguous().clone() for k, v in trained_parameters(model).items()}
    save_file(tensors, str(path))


def load_weights(model: Any, path: Path) -> None:
    """Load a :func:`save_weights` file into ``model`` (converted to the model's dtype)."""
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    inner = model.model
    dtype = inner.vision_tower.dtype
    row = tensors.pop(EMBED_KEY)
    for prefix, module in (
        ("vision_tower.", inner.vision_tower),
        ("multi_modal_projector.", inner.multi_modal_projector),
    ):
        part = {k[len(prefix) :]: v.to(dtype) for k, v in tensors.items() if k.startswith(prefix)}
        module.load_state_dict(part, strict=True)
    with torch.no_grad():
        inner.language_model.get_input_embeddings().weight[model.config.image_token_id] = row.to(dtype)


def assemble(language_folder: Path, out: Path, log: Callable[[str], None] | None = None) -> Path:
    """``out``: the full LLaVA checkpoint folder (model and processor), built once.

    Written into a temporary sibling folder and renamed into place, under a lock,
    so a crash never leaves a half folder and parallel workers build it once.
    """
    if (out / "config.json").is_file():
        return out
    with file_lock(out.with_name(out.name + ".lock")):
        if (out / "config.json").is_file():
            return out
        if log is not None:
            log(f"assembling the demo VLM in {out} (once)")
        for stale in out.parent.glob(out.name + ".partial-*"):  # left by a crash; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        model, proc = build(language_folder, load_spec(), WEIGHTS_FILE)
        partial = out.with_name(out.name + f".partial-{os.getpid()}")
        model.save_pretrained(partial)
        proc.save_pretrained(partial)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(partial, out)
    return out


def demo_vlm_folder(cache_root: Path | None = None, log: Callable[[str], None] | None = None) -> Path:
    """The assembled demo VLM in the cache, keyed by the GGUF and the shipped vision weights."""
    from ..demo_files import demo_gguf_path
    from ..fingerprint import file_digest
    from .checkpoints import gguf_folder
    from .loading import default_cache_dir

    root = cache_root or default_cache_dir()
    gguf = demo_gguf_path()
    language = gguf_folder(gguf, root, log)
    key = hashlib.sha256((file_digest(gguf, root) + weights_digest()).encode()).hexdigest()[:20]
    return assemble(language, root / "demo-vlm" / key, log)


def weights_digest() -> str:
    """SHA-256 of the shipped vision weights and their configs: part of the assembled folder's identity."""
    digest = hashlib.sha256()
    for path in (WEIGHTS_FILE, SPEC_FILE):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def demo_vlm_handle(gguf: Path, options: ModelOptions) -> ModelHandle:
    """The demo VLM: the demo's SmolLM2 with the vision tower trained for it (this module).

    Its identity is the GGUF's digest and the shipped vision weights' (with their
    configs); the full checkpoint is assembled into the cache when first loaded.
    """
    from ..fingerprint import file_digest
    from .checkpoints import hf_handle
    from .loading import default_cache_dir

    cache_root = options.cache_dir or default_cache_dir()
    content = f"demo-vlm:{file_digest(gguf, cache_root)[:20]}+{weights_digest()[:20]}"
    name = "SmolLM2-135M-Instruct + a vision tower trained here (demo-vlm)"
    return hf_handle(name, content, "demo-vlm", options, lambda: demo_vlm_folder(cache_root, options.log), vision=True)


__all__ = ["assemble", "demo_vlm_handle", "build", "demo_vlm_folder", "load_spec", "load_weights", "save_weights"]
