"""Turning image requests into what a vision-language model reads: token ids plus image tensors.

The processor does it, never a re-implementation of it: each :data:`IMAGE_MARK`
becomes the processor's own image placeholder (``processor.image_token``) and the
processor expands it into image tokens from the picture's size, exactly as it
would for any user. The context is processed alone and with each option
appended, with the same images, so the image tokens are expanded identically in
both; the option's tokens are then the tail of the longer sequence, and a
context whose tokens are not a prefix of context+option is refused (there is no
honest way to score that option next to an image; a text-only request falls back
to the option's tokens alone, as the text adapter does). The processor's tensors for the context (batch
of one) are kept for the forward pass (:mod:`.vision_inputs` collates them).

BOS: a rendered chat template usually starts with BOS already, and a processor
such as Mllama's or PaliGemma's inserts one itself; the tokenizer must then not
add another. The processor is called with ``add_special_tokens=False`` whenever
the text begins with BOS or the ids would otherwise hold two.

PaliGemma reads its prompt bidirectionally and its answer causally: the option
goes in as ``suffix=`` (after the ``"\n"`` the processor ends every prompt with,
so without its leading space), it gets the suffix's token types, and the EOS
the processor appends to it is not scored.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..base import IMAGE_MARK, AdapterError, ChoiceRequest, GenerationRequest

TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids", "cross_attention_mask")
"""Processor outputs that run along the token axis (dimension 1); everything else describes the images."""
TAIL_KEYS = ("cross_attention_mask",)
"""Per-token inputs that tokens after the image still need (Mllama: which images each text token reads).
Token types (which tokens are image tokens) are left out after the image: text tokens are all type 0."""
DROPPED_KEYS = ("labels",)
"""Training-only outputs (PaliGemma returns labels even without a suffix)."""


@dataclass
class Family:
    """What differs between architectures, read once from the processor and the model."""

    placeholder: str | None
    """The text the processor expands into an image (``processor.image_token``); None: it takes no images."""
    image_ids: frozenset[int]
    """Token ids of image tokens (the prefix that covers the last of them holds the whole image)."""
    suffix_answers: bool = False
    """PaliGemma: options go in as ``suffix=``; the prompt is read bidirectionally."""
    needs_images: bool = False
    """PaliGemma: the processor refuses a prompt without an image."""
    position_offset: int = 0
    """PaliGemma counts positions from 1."""
    bos: str | None = None
    bos_id: int | None = None


@dataclass
class VisionEncoded:
    """One request as the model reads it."""

    index: int
    context: list[int]
    continuations: list[list[int]]
    digests: tuple[str, ...]
    image_end: int
    """Tokens up to and including the last image token (0 without images)."""
    features: dict[str, Any]
    """The context's processor outputs, batch of one (token-axis ones and image ones)."""
    tails: list[dict[str, Any]] = field(default_factory=list)
    """Per option, the :data:`TAIL_KEYS` inputs of its tokens (empty for most architectures)."""

    @property
    def length(self) -> int:
        return len(self.context) + max(len(c) for c in self.continuations)


def processor_text(family: Family, context: str, images: int, name: str) -> str:
    """``context`` with each image mark replaced by the processor's own placeholder."""
    if not images:
        return context
    if family.placeholder is None:
        raise AdapterError(f"{name}: its processor has no image token, so it cannot place an image in a prompt")
    if family.placeholder in context:
        raise AdapterError(
            f"{name}: a prompt already contains the model's image token {family.placeholder!r} as text; "
            "put images in with the suite's image fields"
        )
    return context.replace(IMAGE_MARK, family.placeholder)


def run_processor(
    processor: Any, family: Family, text: str, images: list[Any], special: bool, suffix: str | None = None
) -> dict[str, Any]:
    """The processor's tensors for one text (batch of one), with the training-only outputs dropped."""
    kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt", "add_special_tokens": special}
    if images:
        kwargs["images"] = [images]
    if suffix is not None:
        kwargs["suffix"] = [suffix]
    out = processor(**kwargs)
    return {key: value for key, value in out.items() if key not in DROPPED_KEYS and hasattr(value, "shape")}


def _special(processor: Any, family: Family, text: str, images: list[Any], name: str) -> tuple[bool, dict[str, Any]]:
    """Whether the tokenizer may add its special tokens here, and the context's outputs with that setting."""
    special = not (family.bos and text.startswith(family.bos))
    try:
        out = run_processor(processor, family, text, images, special)
        if special and family.bos_id is not None and out["input_ids"][0].tolist().count(family.bos_id) > 1:
            special = False  # the processor put a BOS in itself (Mllama, PaliGemma): never two
            out = run_processor(processor, family, text, images, special)
    except (ValueError, TypeError, IndexError) as exc:
        raise AdapterError(f"{name}: the processor refused a prompt: {str(exc).splitlines()[0]}") from exc
    return special, out


def encode_choice(
    processor: Any, family: Family, index: int, request: ChoiceRequest, *, max_length: int, name: str
) -> VisionEncoded:
    """Token ids of a request's context and options, and the context's processor outputs."""
    context, conts = request.context, list(request.continuations)
    stripped = context.rstrip(" ")
    if stripped != context:  # trailing spaces belong to the options (as lm-evaluation-harness does)
        conts = [context[len(stripped) :] + c for c in conts]
        context = stripped
    if family.needs_images and not request.images:
        raise AdapterError(f"{name}: this model reads only prompts with an image, and a request has none")
    images = [ref.load() for ref in request.images]
    text = processor_text(family, context, len(images), name)
    special, ctx = _special(processor, family, text, images, name)
    ids = ctx["input_ids"][0].tolist()
    cont_ids: list[list[int]] = []
    tails: list[dict[str, Any]] = []
    for cont in conts:
        tokens, tail = _option(processor, family, text, images, special, ids, cont, name)
        cont_ids.append(tokens)
        tails.append(tail)
    if len(ids) + max(len(c) for c in cont_ids) > max_length:
        raise AdapterError(f"{name}: a prompt with its option is longer than the model's context ({max_length} tokens)")
    image_end = max((i + 1 for i, t in enumerate(ids) if t in family.image_ids), default=0)
    digests = tuple(ref.digest for ref in request.images)
    return VisionEncoded(index, ids, cont_ids, digests, image_end, ctx, tails)


def _option(
    processor: Any, family: Family, text: str, images: list[Any], special: bool, ids: list[int], cont: str, name: str
) -> tuple[list[int], dict[str, Any]]:
    """An option's tokens after the context's ``ids``, and its :data:`TAIL_KEYS` inputs."""
    if family.suffix_answers:
        # PaliGemma separates prompt and answer itself ("\n"): the option's own leading space is not its text.
        whole = run_processor(processor, family, text, images, special, suffix=cont.lstrip())
        tokens = whole["input_ids"][0].tolist()[:-1]  # the EOS the processor appends is not the answer's
    else:
        whole = run_processor(processor, family, text + cont, images, special)
        tokens = whole["input_ids"][0].tolist()
    if tokens[: len(ids)] == ids and len(tokens) > len(ids):
        return tokens[len(ids) :], {key: whole[key][:, len(ids) : len(tokens)] for key in TAIL_KEYS if key in whole}
    if tokens == ids:
        raise AdapterError(f"{name}: option {cont!r} encodes to no tokens")
    if images:
        raise AdapterError(
            f"{name}: the context's tokens are not a prefix of context+option {cont!r}, so that option "
            "cannot be scored as a continuation; end the prompt where an answer can start (e.g. after 'Answer:')"
        )
    # Text alone falls back to the option's own tokens, as the text adapter does.
    alone = list(processor.tokenizer(cont, add_special_tokens=False)["input_ids"])
    if not alone:
        raise AdapterError(f"{name}: option {cont!r} encodes to no tokens")
    return alone, {}


def encode_choices(
    processor: Any, family: Family, requests: Sequence[ChoiceRequest], *, max_length: int, name: str
) -> list[VisionEncoded]:
    with images_prepared_once(processor):
        return [
            encode_choice(processor, family, i, r, max_length=max_length, name=name) for i, r in enumerate(requests)
        ]


def _identity(images: Any) -> Any:
    if isinstance(images, (list, tuple)):
        return tuple(_identity(image) for image in images)
    return id(images)


class _PreparedOnce:
    """A processor's image processor that prepares the same pictures once (see :func:`images_prepared_once`)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._seen: dict[Any, tuple[Any, Any]] = {}

    def __call__(self, images: Any, *args: Any, **kwargs: Any) -> Any:
        key = (_identity(images), repr(args), repr(sorted(kwargs.items())))
        if key not in self._seen:  # the pictures are kept with their result: their ids stay theirs
            self._seen[key] = (images, self._inner(images, *args, **kwargs))
        return copy.copy(self._seen[key][1])  # a processor may pop from it (Mllama's num_tiles)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def images_prepared_once(processor: Any) -> Iterator[None]:
    """Within one call, each picture is resized and normalised once, not once per option.

    A context is processed alone and with each of its options appended, always with its
    pictures (so their tokens expand identically); the text differs, the pixels do not.
    Pictures are the same objects per digest (:meth:`~pytest_medmodel.images.ImageRef.load`).
    """
    inner = getattr(processor, "image_processor", None)
    if inner is None:
        yield
        return
    processor.image_processor = _PreparedOnce(inner)
    try:
        yield
    finally:
        processor.image_processor = inner


def encode_prompt(processor: Any, family: Family, request: GenerationRequest, name: str) -> dict[str, Any]:
    """The processor's outputs for a generation prompt (batch of one)."""
    if family.needs_images and not request.images:
        raise AdapterError(f"{name}: this model reads only prompts with an image, and a request has none")
    images = [ref.load() for ref in request.images]
    text = processor_text(family, request.context, len(images), name)
    return _special(processor, family, text, images, name)[1]
