"""Loading transformers checkpoints: folders, hub snapshots and GGUF files.

torch and transformers are imported here, inside functions, and only when a
model is actually loaded (see :mod:`pytest_medmodel.models.specs` for how a spec
becomes a handle without loading anything).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...locks import file_lock
from ..base import AdapterError

Log = Callable[[str], None] | None


def default_cache_dir() -> Path:
    """``$MEDMODEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-medmodel``, else ``~/.cache/pytest-medmodel``."""
    explicit = os.environ.get("MEDMODEL_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-medmodel"


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def load_folder(
    folder: Path,
    *,
    device: str,
    dtype: str,
    name: str,
    fingerprint: str,
    batch_size: int | None,
    trust_remote_code: bool = False,
    device_map: str | None = None,
    vision: bool = False,
) -> Any:
    """A checkpoint folder as an :class:`~pytest_medmodel.models.hf.adapter.HFCausalLM`, an
    :class:`~pytest_medmodel.models.hf.seq2seq.HFSeq2Seq` for an encoder-decoder (T5-style) model,
    or (``vision``) an :class:`~pytest_medmodel.models.hf.vision.HFVision` for an image-text-to-text one."""
    if vision:
        from .vision_loading import load_vision_folder

        _quiet_transformers()
        return load_vision_folder(
            folder,
            device=device,
            dtype=dtype,
            name=name,
            fingerprint=fingerprint,
            batch_size=batch_size,
            trust_remote_code=trust_remote_code,
            device_map=device_map,
        )
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from .adapter import HFCausalLM
    from .seq2seq import HFSeq2Seq

    _quiet_transformers()
    try:
        # Explicit either way: transformers never prompts on stdin.
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
        kind = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
        # device_map (accelerate): the layers spread over every device this worker sees, inputs go to the first.
        placed = {"device_map": device_map} if device_map else {}
        model = kind.from_pretrained(folder, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code, **placed)
    except (OSError, ValueError) as exc:
        raise AdapterError(f"--medmodel={folder}: {str(exc).splitlines()[0]}") from exc
    if not device_map:
        model.to(device)
    model.eval()
    if kind is AutoModelForSeq2SeqLM:
        return HFSeq2Seq(model, tokenizer, name=name, fingerprint=fingerprint)
    devices = ", ".join(sorted({str(p.device) for p in model.parameters()}))
    spread = f"device_map {device_map} over {devices}" if device_map else ""
    return HFCausalLM(model, tokenizer, name=name, fingerprint=fingerprint, batch_size=batch_size, description=spread)


def hub_snapshot(repo_id: str) -> Path:
    """The local snapshot folder of a hub id (downloading unless HF_HUB_OFFLINE is set)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - a transformers dependency
        raise AdapterError("loading a hub id needs huggingface_hub") from exc
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    try:
        return Path(snapshot_download(repo_id, local_files_only=offline))
    except Exception as exc:  # noqa: BLE001 - hub errors vary; the first line says why
        hint = " (HF_HUB_OFFLINE is set and it is not in the local cache)" if offline else ""
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AdapterError(
            f"--medmodel={repo_id}: not a local folder, and the hub could not provide it{hint}: {first}"
        ) from exc


def converted_gguf(file: Path, target: Path, log: Log = None) -> Path:
    """``target``, holding ``file`` converted to safetensors (converted once, under a lock).

    transformers dequantises GGUF at every load (~20 s for the 135 M demo); the
    converted folder loads in about a second. Parallel workers convert once.
    """
    if not (target / "config.json").is_file():
        with file_lock(target.with_name(target.name + ".lock")):
            if not (target / "config.json").is_file():
                _convert_gguf(file, target, log)
    return target


def _convert_gguf(file: Path, target: Path, log: Log) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    if log is not None:
        log(f"converting {file.name} to a safetensors cache in {target} (once; about 20 s for the demo)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
        quantized = AutoModelForCausalLM.from_pretrained(file.parent, gguf_file=file.name, dtype=torch.float32)
    except ImportError as exc:
        raise AdapterError(f"loading GGUF needs the gguf package: pip install gguf ({exc})") from exc
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    plain.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
