"""Built-in mutations of a vision-language model: a noisy vision tower, a zeroed projector, dropped images.

They are the failures a VLM's users fear most, because the model still loads and
still answers: a vision tower damaged by a bad conversion, a projector that did
not load (LLaVA-Med without its vision weights lost 30 points in MedEvalKit
issue 13, silently), an image that never reaches the model. Each should be caught
by an image suite's gates; the mutation report says whether it is.

Vision weights are found by the names transformers gives them: the tower under
``vision_tower``, ``vision_model``, ``visual`` or ``image_encoder``, the projector
under ``multi_modal_projector``, ``mm_projector``, ``connector`` or ``merger``
(Qwen2-VL's sits inside ``visual``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..models.base import IMAGE_MARK, ChoiceRequest, GenerationRequest
from .base import Mutate, mutation, torch_model

TOWER_PARTS = frozenset({"vision_tower", "vision_model", "visual", "image_encoder"})
PROJECTOR_PARTS = frozenset({"multi_modal_projector", "mm_projector", "connector", "merger"})


def vision_parameters(model: Any, parts: frozenset[str], without: frozenset[str] = frozenset()) -> list[Any]:
    """Floating-point parameters whose dotted name has a component in ``parts`` and none in ``without``."""
    found = []
    for name, parameter in model.named_parameters():
        components = set(name.split("."))
        if components & parts and not components & without and parameter.is_floating_point():
            found.append(parameter)
    return found


def _none_found(what: str, model: Any, mutation_name: str) -> ValueError:
    return ValueError(
        f"mutation '{mutation_name}' found no {what} weights in {type(model).__name__}; "
        "it applies to vision-language models"
    )


@mutation("vision_noise", vision=True)
def vision_noise(scale: float = 0.5, seed: int = 0) -> Mutate:
    """Gaussian noise on the vision tower's weight matrices only (``scale`` x each matrix's RMS)."""
    if not 0 <= float(scale) <= 10:
        raise ValueError(f"scale={scale} must lie in [0, 10] (a fraction of each matrix's RMS)")

    def apply(adapter: Any) -> Any:
        import torch

        model = torch_model(adapter, "vision_noise")
        matrices = [p for p in vision_parameters(model, TOWER_PARTS, PROJECTOR_PARTS) if p.ndim >= 2]
        if not matrices:
            raise _none_found("vision-tower", model, "vision_noise")
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        with torch.no_grad():
            for weight in matrices:
                rms = weight.detach().float().pow(2).mean().sqrt().cpu()
                drawn = torch.randn(weight.shape, generator=generator, dtype=torch.float32)
                weight.add_((drawn * (float(scale) * rms)).to(device=weight.device, dtype=weight.dtype))
        return adapter

    return apply


@mutation("zero_projector", vision=True)
def zero_projector() -> Mutate:
    """Every weight and bias of the projector from vision to language set to zero: the model goes blind."""

    def apply(adapter: Any) -> Any:
        import torch

        model = torch_model(adapter, "zero_projector")
        parameters = vision_parameters(model, PROJECTOR_PARTS)
        if not parameters:
            raise _none_found("projector", model, "zero_projector")
        with torch.no_grad():
            for parameter in parameters:
                parameter.zero_()
        return adapter

    return apply


class WithoutImages:
    """Delegates to the wrapped adapter, but every request reaches it without its images."""

    def __init__(self, adapter: Any) -> None:
        self._inner = adapter

    def loglikelihood(self, requests: Sequence[ChoiceRequest], progress: Any = None) -> Any:
        stripped = [_text_only(r) for r in requests]
        if progress is not None and "progress" in inspect.signature(self._inner.loglikelihood).parameters:
            return self._inner.loglikelihood(stripped, progress=progress)
        return self._inner.loglikelihood(stripped)

    def generate(self, requests: Sequence[GenerationRequest]) -> Any:
        return self._inner.generate([_text_only(r) for r in requests])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _text_only(request: Any) -> Any:
    """``request`` with its images and their marks (and the newline setting each off) removed."""
    if not request.images:
        return request
    context = request.context.replace(IMAGE_MARK + "\n", "").replace(IMAGE_MARK, "")
    return replace(request, context=context, images=())


@mutation("drop_images", vision=True)
def drop_images() -> Mutate:
    """Requests reach the model without their images, as if the pipeline lost them on the way."""

    def apply(adapter: Any) -> Any:
        return WithoutImages(adapter)

    return apply
