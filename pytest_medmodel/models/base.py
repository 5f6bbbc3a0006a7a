"""The adapter protocol: what a model must do to be tested.

An adapter answers *batches* of requests. The plugin never calls a model once per
test: it plans shards of items and hands each shard's requests to the adapter in
one call, so an adapter is free to sort, pad, batch and cache however suits it.

There are two request kinds. :class:`ChoiceRequest` asks for the log-likelihood of
each of several continuations (``loglikelihood``, the :class:`ScoresContinuations`
protocol); :class:`GenerationRequest` asks for greedy text (``generate``, the
:class:`Generates` protocol). An adapter implements what it can (a
:data:`ModelAdapter` is either or both); its *capabilities* say which, and a
scorer that needs something the model cannot do is skipped with the reason
instead of crashing. Everything else is optional and discovered with ``getattr``,
which keeps a black-box adapter (an HTTP endpoint, an ensemble) a dozen lines long.

A request's content is a sequence of typed parts (:data:`Part`): :class:`TextPart`
and :class:`ImagePart`. A request stores it as the text ``context``, with
:data:`IMAGE_MARK` where each image goes, plus ``images`` in mark order; its
``parts`` are that content split back. A text request is what it always was:
``ChoiceRequest.from_parts([TextPart(...)], continuations)`` equals
``ChoiceRequest(text, continuations)``, cache identity included. A request with
images adds their digests to its identity and goes only to an adapter that
declares :data:`IMAGES`.

Every request carries ``meta``: where it comes from (suite, item id, variant).
Adapters may read it (a test adapter looks up the answer key there); it is never
part of the prediction cache key, so it cannot change which answer is served.

Examples:
    A minimal adapter over any scoring function::

        class MyEndpoint:
            name = "my-endpoint-v3"
            fingerprint = "my-endpoint-v3@2026-11-01"  # or None: no cross-run cache

            def loglikelihood(self, requests):
                out = []
                for req in requests:
                    lps = [call_my_api(req.context, cont) for cont in req.continuations]
                    out.append(ChoiceResult(logprobs=tuple(lps)))
                return out

        def make():  # --medmodel=py:my_package.adapters:make
            return MyEndpoint()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from ..images.ref import ImageRef

CHOICE_LOGPROBS = "choice_logprobs"
"""Full log-likelihood of any continuation (``loglikelihood``): letter and option-text scoring."""
TOPK_LOGPROBS = "topk_logprobs"
"""Only the top-k next-token log-probabilities (many serving APIs); continuations outside
the top k come back as ``-inf``."""
GENERATE = "generate"
"""Greedy text generation (``generate``)."""
IMAGES = "images"
"""The adapter reads a request's images (:class:`ImagePart`); declared, never implied. A model without it
is never sent a request that has one: an image suite's tests are skipped for it, with the reason."""
CAPABILITIES = (CHOICE_LOGPROBS, TOPK_LOGPROBS, GENERATE, IMAGES)
"""Every capability an adapter can have."""
IMAGE_MARK = "<|medmodel:image|>"
"""Where an image goes in a request's ``context``: each mark stands for the next of ``request.images``.

The mark is the plugin's, not any model's: an adapter that takes images puts its own
image token where each mark is (and returns marks from ``format_chat`` where its chat
template put an image), so prompts, cache keys and logs are the same for every model."""


def _no_meta() -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class TextPart:
    """Text in a request's content, already rendered (chat template applied)."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"TextPart holds a str, not a {type(self.text).__name__}")


@dataclass(frozen=True)
class ImagePart:
    """An image in a request's content: the item's :class:`~pytest_medmodel.images.ImageRef` (decoded lazily)."""

    image: ImageRef


Part: TypeAlias = TextPart | ImagePart
"""One piece of a request's content."""


def text_of(parts: Iterable[Part]) -> str:
    """The text of ``parts`` in order, each image as :data:`IMAGE_MARK`: a request's ``context``."""
    texts = []
    for part in parts:
        if isinstance(part, ImagePart):
            texts.append(IMAGE_MARK)
        elif isinstance(part, TextPart):
            texts.append(part.text)
        else:
            raise TypeError(f"a request part is a TextPart or an ImagePart, not a {type(part).__name__}")
    return "".join(texts)


def images_of(parts: Iterable[Part]) -> tuple[ImageRef, ...]:
    return tuple(part.image for part in parts if isinstance(part, ImagePart))


def _as_parts(context: str, images: Sequence[ImageRef]) -> tuple[Part, ...]:
    """``context`` split at its image marks, each mark replaced by the next image."""
    if not images:
        return (TextPart(context),) if context else ()
    pieces = context.split(IMAGE_MARK)
    if len(pieces) != len(images) + 1:
        raise ValueError(f"a request with {len(images)} image(s) has {len(pieces) - 1} image mark(s) in its context")
    parts: list[Part] = [TextPart(pieces[0])] if pieces[0] else []
    for image, text in zip(images, pieces[1:], strict=True):
        parts.append(ImagePart(image))
        parts += [TextPart(text)] if text else []
    return tuple(parts)


def _image_identity(images: Sequence[ImageRef]) -> list[Any]:
    """Nothing for a text request (its identity is what it always was), else the images' digests."""
    return [[image.digest for image in images]] if images else []


def _check_marks(context: str, images: Sequence[ImageRef]) -> None:
    """Every image has its mark and every mark its image: an image is never dropped silently."""
    marks = context.count(IMAGE_MARK)
    if marks != len(images):
        raise ValueError(f"a request with {len(images)} image(s) has {marks} image mark(s) in its context")


_MAX_NEW_TOKENS = 64


@dataclass(frozen=True)
class ChoiceRequest:
    """Score several continuations of one context.

    Grouping continuations by context is what lets an adapter run the context once
    and reuse it for every option (the plugin's HF adapter does, through the KV cache).
    """

    kind: ClassVar[str] = "choice"
    context: str
    """Everything the model conditions on, already rendered (chat template applied)."""
    continuations: tuple[str, ...]
    """Candidate answers, e.g. ``(" A", " B", " C", " D")`` or ``(" yes", " no", " maybe")``."""
    meta: Mapping[str, Any] = field(default_factory=_no_meta, compare=False)
    """Where the request comes from (``suite``, ``item``, ``variant``); not part of the cache key."""
    images: tuple[ImageRef, ...] = ()
    """The images, in the order of the :data:`IMAGE_MARK` marks in ``context``."""

    def __post_init__(self) -> None:
        _check_marks(self.context, self.images)

    @classmethod
    def from_parts(
        cls, parts: Iterable[Part], continuations: tuple[str, ...], meta: Mapping[str, Any] | None = None
    ) -> ChoiceRequest:
        """The request whose content is ``parts``: equal to the one built from their text as ``context``."""
        parts = tuple(parts)
        return cls(text_of(parts), continuations, _no_meta() if meta is None else meta, images_of(parts))

    @property
    def parts(self) -> tuple[Part, ...]:
        """The content as typed parts: text, and an :class:`ImagePart` where each image goes."""
        return _as_parts(self.context, self.images)

    def identity(self) -> list[Any]:
        """What the prediction cache key is made of (everything but ``meta``; images by their digests).

        A text request's identity is its ``context`` as it always was, however it was built,
        so prediction caches and baselines recorded before parts existed stay valid.
        """
        return [self.kind, self.context, list(self.continuations), *_image_identity(self.images)]


@dataclass(frozen=True)
class GenerationRequest:
    """Greedy generation from a context, up to a token limit or a stop string."""

    kind: ClassVar[str] = "generate"
    context: str
    """Everything the model conditions on, already rendered (chat template applied)."""
    max_new_tokens: int = _MAX_NEW_TOKENS
    stop: tuple[str, ...] = ()
    """Generation is cut before the earliest occurrence of any of these strings."""
    meta: Mapping[str, Any] = field(default_factory=_no_meta, compare=False)
    images: tuple[ImageRef, ...] = ()
    """The images, in the order of the :data:`IMAGE_MARK` marks in ``context``."""

    def __post_init__(self) -> None:
        _check_marks(self.context, self.images)

    @classmethod
    def from_parts(
        cls,
        parts: Iterable[Part],
        max_new_tokens: int = _MAX_NEW_TOKENS,
        stop: tuple[str, ...] = (),
        meta: Mapping[str, Any] | None = None,
    ) -> GenerationRequest:
        """The request whose content is ``parts``: equal to the one built from their text as ``context``."""
        parts = tuple(parts)
        return cls(text_of(parts), max_new_tokens, stop, _no_meta() if meta is None else meta, images_of(parts))

    @property
    def parts(self) -> tuple[Part, ...]:
        """The content as typed parts: text, and an :class:`ImagePart` where each image goes."""
        return _as_parts(self.context, self.images)

    def identity(self) -> list[Any]:
        """What the prediction cache key is made of (everything but ``meta``; see :meth:`ChoiceRequest.identity`)."""
        return [self.kind, self.context, self.max_new_tokens, list(self.stop), *_image_identity(self.images)]


@dataclass(frozen=True)
class ChoiceResult:
    """Scores of one :class:`ChoiceRequest`, one entry per continuation."""

    logprobs: tuple[float, ...]
    """Sum of log p(token | context, previous tokens) over each continuation's tokens."""
    num_tokens: tuple[int, ...] = ()
    """Token count of each continuation (informational)."""
    is_greedy: tuple[bool, ...] = ()
    """Whether greedy decoding would have produced each continuation exactly."""

    def to_json(self) -> dict[str, Any]:
        return {"logprobs": list(self.logprobs), "num_tokens": list(self.num_tokens), "is_greedy": list(self.is_greedy)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChoiceResult:
        return cls(tuple(data["logprobs"]), tuple(data.get("num_tokens", ())), tuple(data.get("is_greedy", ())))


@dataclass(frozen=True)
class GenerationResult:
    """The text generated for one :class:`GenerationRequest` (stop string excluded)."""

    text: str

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GenerationResult:
        return cls(str(data["text"]))


Request = ChoiceRequest | GenerationRequest
Result = ChoiceResult | GenerationResult
RESULT_TYPES: dict[str, type[ChoiceResult] | type[GenerationResult]] = {
    "choice": ChoiceResult,
    "generate": GenerationResult,
}
"""Result type of each request kind."""

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while an adapter works through a call."""


@runtime_checkable
class ScoresContinuations(Protocol):
    """An adapter that scores continuations: :data:`CHOICE_LOGPROBS` (or :data:`TOPK_LOGPROBS`, declared)."""

    def loglikelihood(self, requests: Sequence[ChoiceRequest]) -> list[ChoiceResult]:
        """Score every continuation of every request; results in request order.

        If it accepts a ``progress`` keyword, it is passed a :data:`ProgressCallback`.
        """
        ...


@runtime_checkable
class Generates(Protocol):
    """An adapter that generates text: :data:`GENERATE`."""

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """Greedy text for every request, in request order, cut before its earliest ``stop`` string."""
        ...


class _Either(type):
    """Makes ``isinstance(obj, ModelAdapter)`` true when ``obj`` meets either protocol."""

    def __instancecheck__(cls, obj: object) -> bool:
        if cls.__name__ == "ModelAdapter" and cls.__module__ == __name__:  # not for the classes inheriting it
            return isinstance(obj, (ScoresContinuations, Generates)) or type.__instancecheck__(cls, obj)
        return type.__instancecheck__(cls, obj)


if TYPE_CHECKING:
    ModelAdapter: TypeAlias = ScoresContinuations | Generates
else:

    class ModelAdapter(metaclass=_Either):
        """What the plugin needs from a model: :class:`ScoresContinuations`, :class:`Generates`, or both.

        Type checkers see the union ``ScoresContinuations | Generates``. At run time it is
        also a class: ``isinstance(obj, ModelAdapter)`` is true for an object that meets
        either protocol, and ``class MyAdapter(ModelAdapter)`` keeps working as it did
        when the name was one protocol (such a class still needs one of the two methods).

        Attributes, each optional:
            name: shown in reports and used to derive the default baseline profile
                (the class name otherwise).
            fingerprint: identity of the weights (and tokenizer, chat template) for the
                prediction cache. Two adapters with the same fingerprint must give the
                same scores. ``None`` (or absent) means "unknown": predictions are then
                shared only within one test run, never across runs.

        Methods, at least one of the first two required:
            ``loglikelihood(requests: list[ChoiceRequest]) -> list[ChoiceResult]``
                (:class:`ScoresContinuations`); if it accepts a ``progress`` keyword, it is
                passed a :data:`ProgressCallback`.
            ``generate(requests: list[GenerationRequest]) -> list[str]`` (:class:`Generates`): greedy text.
            ``capabilities``: a set of :data:`CAPABILITIES`; by default derived from the
                two methods above (an adapter backed by a top-k API says ``{TOPK_LOGPROBS}``).
            ``format_chat(messages) -> str | None``: apply the model's chat template
                with the assistant turn opened; ``None`` when there is none.
            ``describe() -> str``: one line for the report (device, dtype).
            ``close()``: release memory at the end of the session.
        """


IMPLIED_CAPABILITIES: tuple[tuple[type, str], ...] = ((ScoresContinuations, CHOICE_LOGPROBS), (Generates, GENERATE))
"""The capability each protocol implies for an adapter that declares none."""


def capabilities_of(adapter: object) -> frozenset[str]:
    """What an adapter can do: its ``capabilities`` attribute, or what the protocols it meets imply."""
    declared = getattr(adapter, "capabilities", None)
    if declared is not None:
        return frozenset(str(c) for c in declared)
    return frozenset(capability for protocol, capability in IMPLIED_CAPABILITIES if isinstance(adapter, protocol))


class AdapterError(RuntimeError):
    """A model that cannot be built or used, with the reason and the fix."""


class ModelUnusable(AdapterError):
    """The model cannot be resolved, built or loaded at all: the run stops after saying so once."""
