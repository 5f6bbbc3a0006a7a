"""Hugging Face vision-language models (``AutoModelForImageTextToText``): choice scoring and generation.

A request's context carries :data:`~pytest_medmodel.models.base.IMAGE_MARK`
where each image goes; the processor turns it into the model's image tokens
(:mod:`.vision_encoding`). Scoring wastes nothing the way the text adapter
does not: the context runs once per item with the KV cache on, every option is
scored on a copy of its cache (a single-token option costs nothing beyond the
context's pass), the LM head runs only where a token is scored, and requests
that share a prefix covering their image run that prefix once, so the vision
tower runs once per distinct image per call (:mod:`.vision_groups`,
:mod:`.vision_passes`). Batches mix items with images of different sizes;
a request's log-likelihoods do not depend on its batch neighbours.

Text-only requests take the same path without images, so a VLM runs text suites
unchanged and scores them as its language model alone would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import (
    CHOICE_LOGPROBS,
    GENERATE,
    IMAGE_MARK,
    IMAGES,
    AdapterError,
    ChoiceRequest,
    ChoiceResult,
    GenerationRequest,
    ProgressCallback,
)
from ..devices import is_out_of_memory
from .vision_encoding import Family, VisionEncoded, encode_choices
from .vision_generate import generate_texts
from .vision_groups import Group, plan_batches, plan_groups
from .vision_passes import Runner, run_own, run_prefixes, score

CPU_TOKEN_BUDGET = 2048
"""Tokens per batch on CPU (images are hundreds of tokens each)."""
ACCELERATOR_TOKEN_BUDGET = 131072
"""Tokens per batch on a GPU (at most ``max_batch_size`` rows); out-of-memory halves the rows."""


def family_of(processor: Any, model: Any) -> Family:
    """What this architecture needs (see :class:`~.vision_encoding.Family`), read from processor and model."""
    tokenizer = processor.tokenizer
    placeholder = getattr(processor, "image_token", None)
    ids = {getattr(processor, "image_token_id", None)}
    for holder in (model.config, getattr(model.config, "text_config", None)):
        ids |= {getattr(holder, "image_token_id", None), getattr(holder, "image_token_index", None)}
    if placeholder is not None:
        ids.add(tokenizer.convert_tokens_to_ids(placeholder))
    suffix = model.config.model_type == "paligemma"
    bos = tokenizer.bos_token
    return Family(
        placeholder=placeholder,
        image_ids=frozenset(i for i in ids if isinstance(i, int)),
        suffix_answers=suffix,
        needs_images=suffix,
        position_offset=1 if suffix else 0,
        bos=bos,
        bos_id=tokenizer.bos_token_id if bos else None,
    )


class HFVision:
    """A :class:`~pytest_medmodel.models.base.ModelAdapter` over a transformers image-text-to-text model.

    Args:
        model: a loaded ``AutoModelForImageTextToText`` (on its device, in eval mode).
        processor: its processor (image processor + tokenizer + chat template).
        name: shown in reports.
        fingerprint: identity of weights, processor settings, dtype and device kind for the cache.
        batch_size: rows per batch; ``None`` sizes batches from a token budget and halves on out-of-memory.
        max_batch_size: cap on rows per batch when ``batch_size`` is ``None``.
    """

    capabilities = frozenset({CHOICE_LOGPROBS, GENERATE, IMAGES})

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        name: str,
        fingerprint: str | None,
        batch_size: int | None = None,
        max_batch_size: int = 32,
        description: str = "",
    ) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.name = name
        self.fingerprint = fingerprint
        self.batch_size = batch_size
        self.max_batch_size = max_batch_size
        self._description = description
        if self.tokenizer.pad_token_id is None:
            fallback = self.tokenizer.eos_token or self.tokenizer.unk_token
            if fallback is None:
                raise AdapterError(f"{name}: the tokenizer has no pad, EOS or UNK token to pad batches with")
            self.tokenizer.pad_token = fallback
        self.tokenizer.padding_side = "left"
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.family = family_of(processor, model)
        self.runner = Runner(model, self.pad_id, self.family.position_offset)
        self.device = self.runner.device
        self.token_budget = CPU_TOKEN_BUDGET if self.device.type == "cpu" else ACCELERATOR_TOKEN_BUDGET
        text_config = model.config.get_text_config()
        limit = getattr(text_config, "max_position_embeddings", None) or 0
        self.max_length = limit if limit > 0 else 1 << 20
        window = getattr(text_config, "sliding_window", None)
        self._window = int(window) if window else None
        self.oom_backoffs = 0

    # ------------------------------------------------------------------ protocol

    @property
    def tokens_run(self) -> int:
        """Tokens through the language model in scoring passes, padding excluded."""
        return self.runner.tokens_run

    def describe(self) -> str:
        dtype = str(self.runner.dtype).replace("torch.", "")
        images = type(getattr(self.processor, "image_processor", None)).__name__
        extra = f", {self._description}" if self._description else ""
        return f"{self.name} ({type(self.model).__name__}, {self.device}, {dtype}, images by {images}{extra})"

    def format_chat(self, messages: Sequence[dict[str, Any]]) -> str | None:
        """The chat template applied, assistant turn opened, :data:`IMAGE_MARK` where it put each image."""
        from .vision_chat import render_chat

        return render_chat(self.processor, messages, self.family.placeholder, IMAGE_MARK, self.name)

    def loglikelihood(
        self, requests: Sequence[ChoiceRequest], progress: ProgressCallback | None = None
    ) -> list[ChoiceResult]:
        import torch

        encoded = encode_choices(self.processor, self.family, requests, max_length=self.max_length, name=self.name)
        groups = plan_groups(encoded, whole_only=self.family.suffix_answers)
        batches = self._plan(groups)
        results: dict[int, ChoiceResult] = {}
        with torch.inference_mode():
            while batches:
                batch = batches[0]
                try:
                    scored = self._score(batch)
                except Exception as exc:  # noqa: BLE001 - re-raised unless it is an OOM
                    if not is_out_of_memory(exc):
                        raise
                    self._back_off(sum(len(m) for _, m in batch), exc)
                    batches = self._plan(_pending(groups, results))
                    continue
                batches.pop(0)
                members = [m for _, ms in batch for m in ms]
                results.update({m.index: r for m, r in zip(members, scored, strict=True)})
                if progress is not None:
                    progress(len(results), len(encoded))
        return [results[i] for i in range(len(encoded))]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Greedy text; each request's text is what it would get alone."""
        return generate_texts(self.model, self.processor, self.family, requests, pad_id=self.pad_id, name=self.name)

    def close(self) -> None:
        self.model = None
        self.runner.model = None

    # ------------------------------------------------------------------ batches

    def _plan(self, groups: Sequence[Group]) -> list[list[tuple[Group, list[VisionEncoded]]]]:
        budget = 1 << 62 if self.batch_size is not None else self.token_budget
        rows = self.batch_size or self.max_batch_size
        return plan_batches(groups, budget=budget, max_rows=rows, window=self._window)

    def _score(self, batch: list[tuple[Group, list[VisionEncoded]]]) -> list[ChoiceResult]:
        """One batch: its prefixes (with images), each member's own tokens when shared, then the options."""
        members = [m for _, ms in batch for m in ms]
        owner = [row for row, (_, ms) in enumerate(batch) for _ in ms]
        whole = batch[0][0].whole
        multi = any(len(c) > 1 for m in members for c in m.continuations)
        prefixes = [(ms[0], group.prefix) for group, ms in batch]
        state = run_prefixes(self.runner, prefixes, use_cache=multi or not whole).select(owner)
        if not whole:
            state = run_own(self.runner, state, [(m, group.prefix) for group, ms in batch for m in ms])
        return score(self.runner, state, members)

    def _back_off(self, size: int, exc: BaseException) -> None:
        """Halve the rows per batch after an out-of-memory error; give up only at one row."""
        if size <= 1:
            raise AdapterError(
                f"{self.name}: out of memory on a single item; try --medmodel-dtype bfloat16 or a larger device"
            ) from exc
        if self.device.type == "cuda":
            import torch

            torch.cuda.empty_cache()
        self.oom_backoffs += 1
        if self.batch_size is not None:
            self.batch_size = max(1, size // 2)
        else:
            self.max_batch_size = max(1, size // 2)


def _pending(groups: Sequence[Group], done: dict[int, ChoiceResult]) -> list[Group]:
    """The groups with their members not yet scored (a group cut by a batch keeps the rest)."""
    out = []
    for group in groups:
        left = [m for m in group.members if m.index not in done]
        if left:
            out.append(Group(group.prefix, left, group.whole))
    return out
