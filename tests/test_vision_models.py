"""Vision-language models (tiny, random, built here) through the real loading path and the VLM adapter.

Each architecture is built once per module (``tiny_vision_models``), saved, and
loaded with ``load_model(folder)`` as ``--medmodel=folder`` would. Expected numbers
come from a plain forward pass over context+option computed here with the
processor and the model, never from the adapter's code.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from pytest_medmodel.api import load_model
from pytest_medmodel.images import ImageRef, ImageSource
from pytest_medmodel.models.base import IMAGE_MARK, IMAGES, AdapterError, ChoiceRequest, GenerationRequest
from pytest_medmodel.models.hf.vision import HFVision
from pytest_medmodel.models.hf.vision_encoding import encode_choice, encode_prompt

ARCHITECTURES = ("llava", "qwen2_vl", "qwen2_5_vl", "idefics3", "gemma3", "paligemma", "mllama")
BOS_INSERTED = ("mllama", "paligemma")
"""Processors that put a BOS into the prompt themselves (the tokenizer must not add one)."""
TOLERANCE = 1e-4


def picture(seed: int, width: int, height: int) -> ImageRef:
    """A random RGB picture of the given size, as a PNG held in memory."""
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return ImageRef.of(ImageSource.from_bytes(buffer.getvalue(), f"picture-{seed}.png"))


SQUARE, TALL, WIDE = picture(1, 48, 48), picture(2, 32, 64), picture(3, 64, 40)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """Tiny models gain nothing from threads, and on a shared CPU extra threads cost ten times over."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import tiny_vision_models

    root = tmp_path_factory.mktemp("vlms")
    return {arch: getattr(tiny_vision_models, f"build_{arch}")(root / arch) for arch in ARCHITECTURES}


@pytest.fixture(scope="module")
def adapters(folders: dict[str, Path]) -> dict[str, HFVision]:
    """Each folder through the plugin's spec path (``--medmodel=folder``)."""
    out = {}
    for arch, folder in folders.items():
        handle = load_model(str(folder), dtype="float32")  # the tolerances below are float32's
        assert IMAGES in handle.capabilities
        out[arch] = handle.adapter
        assert isinstance(out[arch], HFVision)
    return out


@pytest.fixture(params=ARCHITECTURES)
def arch(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def prompt(adapter: HFVision, question: str, images: int = 1) -> str:
    """The chat template applied (or the plain prompt PaliGemma takes), ending where the answer starts."""
    content = [{"type": "image"}] * images + [{"type": "text", "text": question}]
    rendered = adapter.format_chat([{"role": "user", "content": content}])
    return rendered + "Answer:" if rendered is not None else IMAGE_MARK * images + question + " Answer:"


def by_hand(arch: str, adapter: HFVision, request: ChoiceRequest, option: str) -> float:
    """log p(option | context, images) from one plain forward pass over context+option."""
    proc, model = adapter.processor, adapter.model
    text = request.context.replace(IMAGE_MARK, proc.image_token)
    special = not text.startswith(proc.tokenizer.bos_token) and arch not in BOS_INSERTED
    images = {"images": [[ref.load() for ref in request.images]]} if request.images else {}
    context = proc(text=[text], return_tensors="pt", add_special_tokens=special, **images)
    if arch == "paligemma":  # the answer is the suffix (read causally, after the "\n" the processor adds)
        whole = proc(text=[text], suffix=[option.lstrip()], return_tensors="pt", add_special_tokens=special, **images)
        ids = whole["input_ids"][0][:-1]
    else:
        whole = proc(text=[text + option], return_tensors="pt", add_special_tokens=special, **images)
        ids = whole["input_ids"][0]
    start = context["input_ids"].shape[1]
    assert torch.equal(ids[:start], context["input_ids"][0])
    assert ids.tolist().count(proc.tokenizer.bos_token_id) <= 1  # never two
    inputs = {key: value for key, value in whole.items() if key != "labels"}
    with torch.no_grad():
        logprobs = model(**inputs).logits[0].float().log_softmax(-1)
    return float(logprobs[start - 1 : len(ids) - 1].gather(-1, ids[start:, None]).sum())


def image_requests(adapter: HFVision) -> list[ChoiceRequest]:
    """Images of three sizes, one- and several-token options, two questions on one image, two images in one."""
    return [
        ChoiceRequest(prompt(adapter, "Is there a fracture?"), (" yes", " no", " maybe so"), images=(SQUARE,)),
        ChoiceRequest(prompt(adapter, "Is there a lesion in the liver?"), (" yes", " no"), images=(SQUARE,)),
        ChoiceRequest(prompt(adapter, "Is there a fracture?"), (" yes", " no", " maybe so"), images=(TALL,)),
        ChoiceRequest(prompt(adapter, "Which organ is shown?"), (" A", " B the liver"), images=(WIDE,)),
        ChoiceRequest(prompt(adapter, "Has it changed?", images=2), (" yes", " no it has not"), images=(TALL, WIDE)),
    ]


def text_requests(adapter: HFVision) -> list[ChoiceRequest]:
    chat = adapter.format_chat([{"role": "user", "content": "Which organ produces insulin?"}])
    return [
        ChoiceRequest("Question: which organ produces insulin? Answer:", (" A", " B the liver")),
        ChoiceRequest((chat or "") + "Answer:", (" yes", " no maybe")),
    ]


def largest_gap(first: list[Any], second: list[Any]) -> float:
    return max(abs(a - b) for x, y in zip(first, second, strict=True) for a, b in zip(x, y, strict=True))


def test_option_loglikelihoods_equal_a_full_forward_pass(arch: str, adapters: dict[str, HFVision]) -> None:
    adapter = adapters[arch]
    requests = image_requests(adapter)
    got = [r.logprobs for r in adapter.loglikelihood(requests)]
    expected = [[by_hand(arch, adapter, r, option) for option in r.continuations] for r in requests]
    assert largest_gap(got, expected) < TOLERANCE, (got, expected)


def test_a_batch_of_mixed_images_scores_as_one_at_a_time(arch: str, adapters: dict[str, HFVision]) -> None:
    adapter = adapters[arch]
    requests = image_requests(adapter) + (text_requests(adapter) if arch != "paligemma" else [])
    batched = [r.logprobs for r in adapter.loglikelihood(requests)]
    alone = [adapter.loglikelihood([r])[0].logprobs for r in requests]
    assert largest_gap(batched, alone) < TOLERANCE


def vision_tower(model: Any) -> torch.nn.Module:
    for name in ("vision_tower", "visual", "vision_model"):
        if hasattr(model.model, name):
            return getattr(model.model, name)
    raise AssertionError(f"no vision tower found in {type(model).__name__}")


def tower_work(adapter: HFVision, requests: list[ChoiceRequest]) -> tuple[int, int]:
    """(calls, pictures) of the vision tower while the adapter scores ``requests``.

    Pictures are the rows of the tower's pixel input (Qwen2-VL: patches; Idefics3: tiles;
    Mllama: image slots), so they are compared with the work each image costs alone.
    """
    work = [0, 0]

    def count(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        pixels = next(v for v in [*args, *kwargs.values()] if isinstance(v, torch.Tensor))
        work[0] += 1
        work[1] += pixels.shape[0] * (pixels.shape[1] if pixels.dim() == 6 else 1)

    hook = vision_tower(adapter.model).register_forward_pre_hook(count, with_kwargs=True)
    try:
        adapter.loglikelihood(requests)
    finally:
        hook.remove()
    return work[0], work[1]


def resizes(adapter: HFVision, requests: list[ChoiceRequest], monkeypatch: pytest.MonkeyPatch) -> int:
    """How often the image processor prepares pictures while the adapter scores ``requests``."""
    inner = adapter.processor.image_processor
    calls = [0]
    original = inner.preprocess

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(inner, "preprocess", counted)
        adapter.loglikelihood(requests)
    return calls[0]


def test_the_vision_tower_runs_once_per_distinct_image(
    arch: str, adapters: dict[str, HFVision], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two items, two variants each (the text after the image differs), two options of several tokens."""
    adapter = adapters[arch]
    options = (" yes it is", " no maybe")
    # PaliGemma reads its prompt bidirectionally: an image's keys depend on the text after it, so
    # only variants that change the options alone can share (the text after the image must not differ).
    second = "Is there a fracture?" if arch == "paligemma" else "Is there a fracture on the film?"
    requests = [
        ChoiceRequest(prompt(adapter, question), opts, images=(image,))
        for image in (SQUARE, TALL)
        for question, opts in (("Is there a fracture?", options), (second, (" no", " yes it is")))
    ]
    calls, pictures = tower_work(adapter, requests)
    alone = [tower_work(adapter, [ChoiceRequest(prompt(adapter, "Hi"), (" A",), images=(i,))]) for i in (SQUARE, TALL)]
    assert pictures == sum(p for _, p in alone)
    assert calls == 1  # both images, all variants and options: one batch, one call
    assert resizes(adapter, requests, monkeypatch) == 2  # and each picture is prepared once, not once per option


def test_two_images_give_different_loglikelihoods(arch: str, adapters: dict[str, HFVision]) -> None:
    adapter = adapters[arch]
    context = prompt(adapter, "Is there a fracture?")
    first, second = adapter.loglikelihood(
        [ChoiceRequest(context, (" yes", " no"), images=(i,)) for i in (SQUARE, WIDE)]
    )
    assert largest_gap([first.logprobs], [second.logprobs]) > 1e-3


def language_model_alone(adapter: HFVision, context: str, option: str) -> float:
    """The same text scored by the VLM's language model and LM head, no vision code involved."""
    tok, model = adapter.tokenizer, adapter.model
    special = not context.startswith(tok.bos_token)
    start = len(tok(context, add_special_tokens=special)["input_ids"])
    ids = torch.tensor([tok(context + option, add_special_tokens=special)["input_ids"]])
    decoder = getattr(model.model, "language_model", None) or model.model.text_model
    with torch.no_grad():
        logprobs = model.lm_head(decoder(input_ids=ids).last_hidden_state)[0].float().log_softmax(-1)
    return float(logprobs[start - 1 : ids.shape[1] - 1].gather(-1, ids[0, start:, None]).sum())


def test_text_requests_score_as_the_language_model_alone(arch: str, adapters: dict[str, HFVision]) -> None:
    adapter = adapters[arch]
    if arch == "paligemma":
        with pytest.raises(AdapterError, match="reads only prompts with an image") as refused:
            adapter.loglikelihood(text_requests(adapter))
        assert "\n" not in str(refused.value)
        return
    requests = text_requests(adapter)
    got = [r.logprobs for r in adapter.loglikelihood(requests)]
    expected = [[language_model_alone(adapter, r.context, o) for o in r.continuations] for r in requests]
    assert largest_gap(got, expected) < 1e-5


def test_llava_text_requests_score_as_the_text_adapter_on_its_language_model(adapters: dict[str, HFVision]) -> None:
    from transformers import LlamaForCausalLM

    from pytest_medmodel.models.hf.adapter import HFCausalLM

    vlm = adapters["llava"]
    lm = LlamaForCausalLM(vlm.model.config.text_config).eval()
    weights = {k.replace("model.language_model.", "model."): v for k, v in vlm.model.state_dict().items()}
    lm.load_state_dict({k: v for k, v in weights.items() if k.startswith(("model.", "lm_head."))}, strict=False)
    requests = text_requests(vlm)
    text = HFCausalLM(lm, vlm.tokenizer, name="llava-lm", fingerprint=None).loglikelihood(requests)
    got = vlm.loglikelihood(requests)
    assert largest_gap([r.logprobs for r in got], [r.logprobs for r in text]) < 1e-5


def test_greedy_generation_with_images_is_what_each_prompt_gets_alone(arch: str, adapters: dict[str, HFVision]) -> None:
    adapter = adapters[arch]
    requests = [
        GenerationRequest(r.context, max_new_tokens=n, images=r.images)
        for r, n in zip(image_requests(adapter), (5, 3, 6, 4, 2), strict=True)
    ]
    if arch != "paligemma":
        requests.append(GenerationRequest(text_requests(adapter)[1].context, max_new_tokens=5))
    together = adapter.generate(requests)
    assert together == [adapter.generate([r])[0] for r in requests]
    assert all(text for text in together)


def test_format_chat_puts_the_mark_where_the_template_puts_each_image(arch: str, adapters: dict[str, HFVision]) -> None:
    adapter = adapters[arch]
    proc = adapter.processor
    content = [{"type": "image"}, {"type": "text", "text": "Compare the two films."}, {"type": "image"}]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}]
    rendered = adapter.format_chat(messages)
    if arch == "paligemma":  # no chat template: the plugin's own prompt format applies
        assert rendered is None
        return
    assert rendered is not None and rendered.count(IMAGE_MARK) == 2
    as_parts = [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]}, messages[1]]
    template = proc.apply_chat_template(as_parts, add_generation_prompt=True)
    assert rendered.replace(IMAGE_MARK, proc.image_token) == template
    # The request built from it reads as transformers' own chat-template path with the pictures in it.
    shown = [{"type": "image", "image": SQUARE.load()}, content[1], {"type": "image", "image": TALL.load()}]
    ids = proc.apply_chat_template(
        [as_parts[0], {"role": "user", "content": shown}], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    request = GenerationRequest(rendered, images=(SQUARE, TALL))
    mine = encode_prompt(proc, adapter.family, request, adapter.name)["input_ids"][0].tolist()
    assert mine == list(ids[0] if isinstance(ids[0], list) else ids)
    assert mine.count(proc.tokenizer.bos_token_id) <= 1


def test_a_prompt_never_gets_two_bos_tokens(adapters: dict[str, HFVision]) -> None:
    """Gemma 3: the template starts with BOS and the tokenizer adds one; Mllama's processor inserts one."""
    for arch in ("gemma3", "mllama"):
        adapter = adapters[arch]
        bos = adapter.tokenizer.bos_token_id
        for request in (image_requests(adapter)[0], *text_requests(adapter)):
            encoded = encode_choice(adapter.processor, adapter.family, 0, request, max_length=4096, name=arch)
            assert encoded.context.count(bos) == 1, (arch, request.context)


def test_an_option_that_merges_into_an_image_prompt_is_refused_in_one_line(adapters: dict[str, HFVision]) -> None:
    adapter = adapters["llava"]
    context = prompt(adapter, "Is there a fracture?") + " ye"  # ' ye' + 's' is one token: ' yes'
    with pytest.raises(AdapterError, match="not a prefix of context\\+option 's'") as refused:
        adapter.loglikelihood([ChoiceRequest(context, ("s",), images=(SQUARE,))])
    assert "\n" not in str(refused.value)
    text = adapter.loglikelihood([ChoiceRequest(context.replace(IMAGE_MARK, ""), ("s",))])[0]
    assert text.logprobs[0] < 0  # without an image it is scored as the text adapter would (option alone)


def test_a_sliding_window_model_scores_shared_prefixes_exactly(tmp_path: Path) -> None:
    """Gemma 3 with a 16-token window: padding between a shared prefix and a row's own tokens would move it."""
    from tiny_vision_models import build_gemma3

    adapter = load_model(str(build_gemma3(tmp_path / "gemma3-window", sliding_window=16))).adapter
    requests = [
        ChoiceRequest(prompt(adapter, question), (" yes", " no maybe so"), images=(SQUARE,))
        for question in ("Is there a fracture?", "Is there a lesion in the liver or the kidney?", "Which?")
    ]
    got = [r.logprobs for r in adapter.loglikelihood(requests)]
    expected = [[by_hand("gemma3", adapter, r, option) for option in r.continuations] for r in requests]
    assert largest_gap(got, expected) < TOLERANCE


def test_a_changed_processor_config_changes_the_fingerprint(folders: dict[str, Path], tmp_path: Path) -> None:
    """What the model sees (image size, resizing) is part of its identity, whichever file holds it."""
    folder = Path(shutil.copytree(folders["llava"], tmp_path / "llava"))
    before = load_model(str(folder)).fingerprint
    config_file = folder / "processor_config.json"
    config = json.loads(config_file.read_text())
    config["image_processor"]["crop_size"] = {"height": 48, "width": 48}
    config_file.write_text(json.dumps(config))
    resized = load_model(str(folder)).fingerprint
    assert resized != before
    legacy = {"image_processor_type": "CLIPImageProcessor", "crop_size": {"height": 32, "width": 32}}
    (folder / "preprocessor_config.json").write_text(json.dumps(legacy))
    assert load_model(str(folder)).fingerprint not in (before, resized)


def test_a_processor_that_needs_torchvision_is_refused_in_one_line(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed here")
    folder = tmp_path / "phi4"
    folder.mkdir()
    config = {"model_type": "phi4_multimodal", "architectures": ["Phi4MultimodalForCausalLM"], "vision_config": {}}
    (folder / "config.json").write_text(json.dumps(config))
    processor = {"image_processor_type": "Phi4MultimodalImageProcessor", "processor_class": "Phi4MultimodalProcessor"}
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    handle = load_model(str(folder))
    assert IMAGES in handle.capabilities
    with pytest.raises(AdapterError) as refused:
        handle.adapter  # noqa: B018 - building the adapter is what is refused
    text = str(refused.value)
    assert "\n" not in text and "phi4_multimodal" in text and "torchvision" in text, text


@pytest.mark.parametrize(
    ("config", "reads_images"),
    [
        ({"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava"}, True),
        ({"architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl", "vision_config": {}}, True),
        ({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}, False),
        ({"architectures": ["BertForMaskedLM"], "model_type": "bert", "vision_config": {}}, "masked language models"),
        ({"architectures": ["LlavaForSequenceClassification"], "vision_config": {}}, "sequence classifiers"),
        ({"architectures": ["MusicgenForConditionalGeneration"], "model_type": "musicgen"}, "not a causal, seq2seq"),
    ],
)
def test_what_a_checkpoint_loads_as(tmp_path: Path, config: dict[str, Any], reads_images: bool | str) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    if isinstance(reads_images, str):
        with pytest.raises(AdapterError, match=reads_images):
            load_model(str(tmp_path))
        return
    assert (IMAGES in load_model(str(tmp_path)).capabilities) is reads_images


def test_out_of_memory_halves_the_batch_and_keeps_the_scores(adapters: dict[str, HFVision]) -> None:
    adapter = adapters["llava"]
    requests = image_requests(adapter)
    expected = [r.logprobs for r in adapter.loglikelihood(requests)]
    real, rows, backoffs = adapter.runner.model, adapter.max_batch_size, adapter.oom_backoffs

    def small_device(**inputs: Any) -> Any:
        if inputs["input_ids"].shape[0] > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(**inputs)

    seen: list[tuple[int, int]] = []
    adapter.runner.model = small_device
    try:
        got = [r.logprobs for r in adapter.loglikelihood(requests, progress=lambda *done: seen.append(done))]
    finally:
        adapter.runner.model, adapter.max_batch_size = real, rows
    assert largest_gap(got, expected) < TOLERANCE
    assert adapter.oom_backoffs > backoffs
    assert seen[-1] == (len(requests), len(requests)) and len(seen) == len(requests)  # one row per batch in the end
