"""How image requests are cut into batches: the questions about one picture stay in one batch.

A group's shared prefix holds its image; a group split over two batches runs the
vision tower on that image twice. The demo VLM's benchmark showed it (80 tower
rows for 78 distinct pictures) before batches kept groups whole.
"""

from __future__ import annotations

from pytest_medmodel.models.hf.vision_encoding import VisionEncoded
from pytest_medmodel.models.hf.vision_groups import plan_batches, plan_groups

IMAGE = 99


def _request(index: int, picture: int, question: int) -> VisionEncoded:
    context = [1, IMAGE, IMAGE, IMAGE, IMAGE, 2, 100 + question, 3]
    return VisionEncoded(index, context, [[7], [8]], (f"{picture:016x}",), image_end=5, features={})


def _batches_of(groups_seen: list[list[tuple[object, list[VisionEncoded]]]]) -> dict[str, set[int]]:
    where: dict[str, set[int]] = {}
    for number, batch in enumerate(groups_seen):
        for _, members in batch:
            for member in members:
                where.setdefault(member.digests[0], set()).add(number)
    return where


def test_the_questions_about_one_picture_share_one_batch_when_they_fit_in_one() -> None:
    requests = [_request(i, picture, q) for i, (picture, q) in enumerate((p, q) for p in range(5) for q in range(3))]
    groups = plan_groups(requests)
    assert len(groups) == 5 and all(len(g.members) == 3 and not g.whole for g in groups)
    budget = 5 + 3 * 5 + 5 + 2 * 5  # a batch holds one group and most of the next: greedy filling would split it
    batches = plan_batches(groups, budget=budget, max_rows=64)
    assert all(len(numbers) == 1 for numbers in _batches_of(batches).values()), _batches_of(batches)
    assert sorted(m.index for batch in batches for _, ms in batch for m in ms) == list(range(15))


def test_a_group_larger_than_a_batch_is_still_split_across_batches() -> None:
    requests = [_request(i, 0, i) for i in range(6)]
    batches = plan_batches(plan_groups(requests), budget=5 + 2 * 5, max_rows=64)
    assert len(batches) == 3 and _batches_of(batches) == {f"{0:016x}": {0, 1, 2}}
