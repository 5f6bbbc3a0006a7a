"""Loading an image-text-to-text checkpoint: its processor (images only, PIL) and its model.

``AutoProcessor`` cannot be trusted with this on transformers 5: about two dozen
processors (Qwen2-VL, Qwen2.5-VL, SmolVLM, LLaVA-OneVision, InternVL, ...) take a
``video_processor``, and loading one needs torchvision, which breaks
transformers' image path where it is installed half-way and is often absent.
The plugin never sends video, so such a processor class is loaded as an
image-only subclass: ``ProcessorMixin`` reads a processor's parts from
:meth:`get_attributes`, and the subclass leaves the video processor out (it
also loads from a checkpoint that ships a video config).

The image processor is asked for its PIL version (``backend="pil"``): the same
pixels on every machine whether or not torchvision is installed, so the cached
predictions and baselines of one machine hold on another. A processor with no
PIL version (Phi-4-multimodal's) is refused in one line when torchvision is
missing, rather than failing deep inside transformers.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from ..base import AdapterError

_CLASS_SOURCES = ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json")
"""Files that may name the checkpoint's processor class, in the order transformers reads them."""


@functools.cache
def image_only(cls: type) -> type:
    """``cls`` without its video processor (see the module docstring); the class itself if it has none."""
    if "video_processor" not in cls.get_attributes():  # type: ignore[attr-defined]
        return cls

    def get_attributes(klass: type) -> list[str]:
        return [a for a in cls.get_attributes() if a != "video_processor"]  # type: ignore[attr-defined]

    return type(f"ImageOnly{cls.__name__}", (cls,), {"get_attributes": classmethod(get_attributes)})


def _read(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def processor_class(folder: Path, model_type: str) -> type | None:
    """The processor class the checkpoint names (or its model type maps to); None: leave it to AutoProcessor."""
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name

    names = [_read(folder / source).get("processor_class") for source in _CLASS_SOURCES]
    names.append(PROCESSOR_MAPPING_NAMES.get(model_type))
    for name in names:
        if isinstance(name, str) and name:
            found = processor_class_from_name(name)
            return image_only(found) if found is not None else None
    return None


def _refusal(folder: Path, model_type: str, exc: BaseException) -> AdapterError:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "torchvision" in text.lower():
        return AdapterError(
            f"--medmodel={folder}: {model_type}: its image processor exists only for torchvision, which is not "
            "installed here (transformers has no PIL version of it); install torchvision, or test another model"
        )
    return AdapterError(f"--medmodel={folder}: {model_type}: the processor cannot be loaded: {first}")


def load_processor(folder: Path, model_type: str, trust_remote_code: bool = False) -> Any:
    """The checkpoint's processor, images only, with the PIL image processor where there is one."""
    from transformers import AutoImageProcessor, AutoProcessor

    try:
        images = AutoImageProcessor.from_pretrained(folder, backend="pil", trust_remote_code=trust_remote_code)
        cls = processor_class(folder, model_type)
        if cls is None:
            return AutoProcessor.from_pretrained(folder, image_processor=images, trust_remote_code=trust_remote_code)
        return cls.from_pretrained(folder, image_processor=images)  # type: ignore[attr-defined]
    except (OSError, ValueError, TypeError, ImportError, AttributeError, KeyError) as exc:
        raise _refusal(folder, model_type, exc) from exc


def load_vision_folder(
    folder: Path,
    *,
    device: str,
    dtype: str,
    name: str,
    fingerprint: str,
    batch_size: int | None,
    trust_remote_code: bool = False,
    device_map: str | None = None,
) -> Any:
    """An :class:`~pytest_medmodel.models.hf.vision.HFVision` over the checkpoint in ``folder``.

    The processor loads first: a checkpoint whose processor cannot run here is refused
    before gigabytes of weights are read.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    from .vision import HFVision

    model_type = str(_read(folder / "config.json").get("model_type", "unknown"))
    processor = load_processor(folder, model_type, trust_remote_code)
    placed = {"device_map": device_map} if device_map else {}
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            folder, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code, **placed
        )
    except (OSError, ValueError) as exc:
        raise AdapterError(f"--medmodel={folder}: {model_type}: {str(exc).splitlines()[0]}") from exc
    if not device_map:
        model.to(device)
    model.eval()
    devices = ", ".join(sorted({str(p.device) for p in model.parameters()}))
    spread = f"device_map {device_map} over {devices}" if device_map else ""
    return HFVision(model, processor, name=name, fingerprint=fingerprint, batch_size=batch_size, description=spread)
