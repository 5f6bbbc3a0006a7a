"""The VLM mutations change what they say and nothing else, and say so when a model has no such part."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pytest_medmodel import IMAGE_MARK, ChoiceRequest, ChoiceResult
from pytest_medmodel.images import ImageRef, ImageSource
from pytest_medmodel.models.base import AdapterError
from pytest_medmodel.mutate.base import mutate_handle
from pytest_medmodel.mutate.vision import drop_images, vision_noise, zero_projector


def _vlm() -> SimpleNamespace:
    torch = pytest.importorskip("torch")

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.vision_tower = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
            self.multi_modal_projector = torch.nn.Linear(4, 6)
            self.language_model = torch.nn.Linear(6, 6)

    return SimpleNamespace(model=Tiny())


def _snapshot(adapter: SimpleNamespace) -> dict[str, object]:
    return {name: p.detach().clone() for name, p in adapter.model.named_parameters()}


def test_vision_noise_changes_the_tower_matrices_only_and_is_seeded() -> None:
    first, second = _vlm(), _vlm()
    before = _snapshot(first)
    vision_noise(scale=0.5, seed=3)(first)
    vision_noise(scale=0.5, seed=3)(second)
    after = _snapshot(first)
    changed = {name for name in before if not before[name].equal(after[name])}  # type: ignore[attr-defined]
    assert changed == {"vision_tower.0.weight"}  # matrices of the tower; its norm, the projector and the LM untouched
    assert all(after[n].equal(_snapshot(second)[n]) for n in after)  # type: ignore[attr-defined]


def test_zero_projector_blinds_the_model_and_touches_nothing_else() -> None:
    adapter = _vlm()
    before = _snapshot(adapter)
    zero_projector()(adapter)
    after = _snapshot(adapter)
    assert float(after["multi_modal_projector.weight"].abs().sum()) == 0.0  # type: ignore[attr-defined]
    assert float(after["multi_modal_projector.bias"].abs().sum()) == 0.0  # type: ignore[attr-defined]
    untouched = [n for n in before if not n.startswith("multi_modal_projector")]
    assert all(before[n].equal(after[n]) for n in untouched)  # type: ignore[attr-defined]


def test_weight_mutations_of_a_vlm_refuse_a_text_model_in_one_line() -> None:
    torch = pytest.importorskip("torch")
    text_model = SimpleNamespace(model=torch.nn.Sequential(torch.nn.Linear(3, 3)))
    with pytest.raises(ValueError, match="found no projector weights in Sequential; it applies to vision-language"):
        zero_projector()(text_model)
    with pytest.raises(ValueError, match="found no vision-tower weights"):
        vision_noise()(text_model)


def test_drop_images_sends_every_request_without_its_images(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from pytest_medmodel import as_model

    Image.new("RGB", (4, 4), (9, 9, 9)).save(tmp_path / "a.png")
    image = ImageRef.of(ImageSource.from_file(tmp_path / "a.png", "a.png"))
    seen: list[ChoiceRequest] = []

    class Looker:
        name, fingerprint, capabilities = "looker", "looker-1", {"choice_logprobs", "images"}

        def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
            seen.extend(requests)
            return [ChoiceResult((0.0,)) for _ in requests]

    handle = mutate_handle(as_model(Looker()), "drop_images")
    request = ChoiceRequest(f"{IMAGE_MARK}\nWhat is shown?\nAnswer:", (" A",), images=(image,))
    handle.adapter.loglikelihood([request, ChoiceRequest("text only", (" A",))])
    assert [(r.context, r.images) for r in seen] == [("What is shown?\nAnswer:", ()), ("text only", ())]
    assert handle.fingerprint != as_model(Looker()).fingerprint and "images" in handle.capabilities
    assert drop_images() is not None
    with pytest.raises(AdapterError, match="unknown setting"):
        mutate_handle(as_model(Looker()), "drop_images:keep=1")
