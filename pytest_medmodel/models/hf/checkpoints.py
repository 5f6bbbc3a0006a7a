"""Transformers checkpoints as model handles: checked, fingerprinted and loaded on first use.

Resolving a checkpoint reads its ``config.json`` (architecture, remote code) and
hashes its files; it never imports torch or transformers (unless a GPU may be
present and the device must be asked) and never loads weights.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..base import CHOICE_LOGPROBS, GENERATE, IMAGES, AdapterError
from ..devices import device_kind, resolve_device, resolve_dtype
from ..fingerprint import file_digest, fingerprint_folder
from ..handle import ModelHandle, ModelOptions

_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
_UNSUPPORTED = {
    "ForSequenceClassification": "sequence classifiers are not supported yet",
    "ForMaskedLM": "masked language models cannot score answers as continuations",
}
HF_CAPABILITIES = frozenset({CHOICE_LOGPROBS, GENERATE})
VISION_CAPABILITIES = HF_CAPABILITIES | {IMAGES}
"""An image-text-to-text checkpoint reads images too (:class:`~pytest_medmodel.models.hf.vision.HFVision`)."""


def prepare(options: ModelOptions) -> None:
    """Run the caller's preparation hook, just before a model is built."""
    if options.prepare is not None:
        options.prepare()


def folder_handle(
    folder: Path, options: ModelOptions, *, profile: str, name: str | None = None, content: str | None = None
) -> ModelHandle:
    """A transformers checkpoint folder: checked and fingerprinted now, loaded on first use."""
    folder = folder.resolve()
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise AdapterError(f"--medmodel={folder}: no config.json in the folder; is it a transformers checkpoint?")
    vision = checkpoint_kind(_read_config(config_file), str(folder)) == "vision"
    _check_remote_code(folder, options.trust_remote_code)
    # Every file is hashed: weights, tokenizer, chat template, and the processor configs
    # (preprocessor_config.json, processor_config.json: image size, min/max pixels, resizing).
    content = content or "folder:" + fingerprint_folder(folder, options.cache_dir)
    return hf_handle(name or folder.name, content, profile, options, lambda: folder, vision=vision)


def gguf_handle(file: Path, options: ModelOptions, *, name: str, profile: str) -> ModelHandle:
    """A GGUF file: keyed by its own SHA-256; converted once into a safetensors folder when first loaded."""
    from .loading import default_cache_dir

    cache_root = options.cache_dir or default_cache_dir()
    sha = file_digest(file, cache_root)[:20]
    return hf_handle(name, f"gguf:{sha}", profile, options, lambda: gguf_folder(file, cache_root, options.log))


def gguf_folder(file: Path, cache_root: Path | None = None, log: Callable[[str], None] | None = None) -> Path:
    """The transformers folder a GGUF file converts to (converted now, once): what a server can serve."""
    from .loading import converted_gguf, default_cache_dir

    root = cache_root or default_cache_dir()
    return converted_gguf(file, root / "gguf" / file_digest(file, root)[:20], log=log)


def hf_handle(
    name: str,
    content: str,
    profile: str,
    options: ModelOptions,
    folder: Callable[[], Path],
    *,
    vision: bool = False,
) -> ModelHandle:
    """A checkpoint's handle: fingerprint from ``content``, dtype and device kind; ``folder()`` loads on first use."""
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    # Numbers differ slightly between dtypes and device kinds: both are part of the identity.
    fingerprint = f"{content}|{dtype}|{device_kind(device)}"

    def load() -> Any:
        from .loading import load_folder

        prepare(options)
        return load_folder(
            folder(),
            device=device,
            dtype=dtype,
            name=name,
            fingerprint=fingerprint,
            batch_size=options.batch_size,
            trust_remote_code=options.trust_remote_code,
            device_map=options.device_map,
            vision=vision,
        )

    return ModelHandle(
        name=name,
        fingerprint=fingerprint,
        profile=profile,
        capabilities=VISION_CAPABILITIES if vision else HF_CAPABILITIES,
        load=load,
        description=f"{name} ({device}, {dtype}{', device_map ' + options.device_map if options.device_map else ''})",
    )


def checkpoint_kind(config: dict[str, Any], where: str) -> str:
    """``causal``, ``seq2seq`` or ``vision`` (image-text-to-text), read from ``config.json``; refusals say why.

    A config with a ``vision_config`` is an image-text-to-text model; so is a
    ``...ForConditionalGeneration`` decoder whose model type transformers maps to
    ``AutoModelForImageTextToText`` (only then is transformers imported to ask).
    """
    archs = [str(a) for a in config.get("architectures") or []]
    for arch in archs:
        for suffix, why in _UNSUPPORTED.items():
            if arch.endswith(suffix):
                raise AdapterError(f"{where}: {arch}: {why}; this release tests causal and vision-language models")
    encoder_decoder = bool(config.get("is_encoder_decoder"))
    if isinstance(config.get("vision_config"), dict):
        if encoder_decoder:
            raise AdapterError(f"{where}: {config.get('model_type')}: encoder-decoder vision models are not supported")
        return "vision"
    if encoder_decoder:
        return "seq2seq"  # T5-style checkpoints load as seq2seq (models/hf/seq2seq.py)
    if any(arch.endswith(_CAUSAL_SUFFIXES) for arch in archs) or not archs:
        return "causal"  # no architectures recorded: AutoModelForCausalLM decides from model_type at load time
    if _image_text_type(str(config.get("model_type", ""))):
        return "vision"
    raise AdapterError(
        f"{where}: {archs[0]}: not a causal, seq2seq or image-text-to-text model; "
        "this release tests causal and vision-language models"
    )


def _image_text_type(model_type: str) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def _check_remote_code(folder: Path, trusted: bool) -> None:
    """A checkpoint with ``auto_map`` runs its own code when loaded: never without an explicit opt-in.

    (Left to itself, transformers would ask on stdin, which under pytest's capture is a
    thousand-line traceback, and with ``-s`` a keypress away from running the code.)
    """
    if trusted:
        return
    for name in ("config.json", "tokenizer_config.json"):
        file = folder / name
        try:
            data = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("auto_map"):
            raise AdapterError(
                f"--medmodel={folder}: the checkpoint asks to run its own code ({name} has auto_map); "
                "pass --medmodel-trust-remote-code (or set medmodel_trust_remote_code) only if you trust it"
            )


def _read_config(config_file: Path) -> dict[str, Any]:
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdapterError(f"--medmodel={config_file.parent}: config.json cannot be read ({exc})") from exc
    if not isinstance(config, dict):
        raise AdapterError(f"--medmodel={config_file.parent}: config.json is not a JSON object")
    return config
