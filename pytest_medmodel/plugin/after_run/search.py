"""``--medmodel-search``: after the run, look for the smallest change that flips each right answer.

Runs in the reporting process once the tests are done, on the originals this run
answered right (the first ``--medmodel-search-items`` per suite), with the run's
model loaded again from its spec. Found flips are kept under the cache folder
(``search/<suite>.json``) and replayed first next time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from ...loading.recipe import load_suite
from ...records import ItemScore
from ...report.pictures import PicturedFlip, SearchPictures
from ...search.edits import apply_edits, searchable
from ...search.engine import Finding, Search, change_text, read_known, report_lines, write_known
from ...suite.types import ORIGINAL, Suite, SuiteError, Variant
from ..progress import Progress
from ..session import TestSession


def run_search(
    config: pytest.Config,
    session: TestSession,
    scores: Mapping[str, Mapping[str, ItemScore]],
    lines: list[str],
    pictures: SearchPictures | None = None,
) -> None:
    """Add the search's lines to ``lines``, per suite searched: every suite with ``--medmodel-search``, else
    those whose file has a ``search:`` key (or one line saying why it could not run).

    ``pictures``: where to keep the image before and after of each flip that changed a picture (for the
    report). Lines are added as each suite is done, so a failure half-way (raised to the caller,
    :mod:`pytest_medmodel.plugin.after_run`) keeps what was found before it.
    """
    settings = session.settings
    if not settings.spec:
        lines.append("the search needs the model as a spec (--medmodel=SPEC or the 'medmodel' ini key)")
        return
    progress = Progress(config)
    cache = session.cache_folder()
    runner = session.side_runner(progress)
    try:
        model = session.default_model()
        for suite_key in sorted(scores):
            try:
                suite = load_suite(Path(config.rootpath) / suite_key, root=settings.data_root)
            except SuiteError:
                continue
            if settings.search is None and suite.search is None:
                continue  # neither --medmodel-search nor the suite's own search: key
            candidates, max_items = settings.search or suite.search or (32, 20)
            right = sorted(s.item_id for s in scores[suite_key].values() if s.variant == ORIGINAL and s.correct)
            variants = {i: Variant.of(suite.item(i)) for i in right[:max_items]}
            if not variants:
                continue
            progress(f"search: {suite.name}: {len(variants)} right answer(s), up to {candidates} candidates each")
            store = cache / "search" / f"{suite.name}.json"
            known = read_known(store)
            findings = Search(suite, model, runner).run(variants, candidates, known)
            write_known(store, findings, known)
            questions = {i: v.question.split(" ") for i, v in variants.items()}
            lines += report_lines(suite.name, findings, questions.__getitem__, searchable(suite.perturbations))
            if pictures is not None:
                _keep_pictures(suite, variants, findings, questions.__getitem__, pictures)
    finally:
        runner.close()


def _keep_pictures(
    suite: Suite,
    variants: Mapping[str, Variant],
    findings: Mapping[str, Finding],
    words: Callable[[str], list[str]],
    pictures: SearchPictures,
) -> None:
    """The picture before and after each flip that changed the image (not for flips in the text alone)."""
    from .report_pictures import thumbnail_of

    uses = searchable(suite.perturbations)
    for item_id, finding in sorted(findings.items()):
        if not finding.flipped:
            continue
        original = variants[item_id]
        changed = apply_edits(original, finding.edits, uses)
        if changed.images == original.images:
            continue
        for ref in (*original.images, *changed.images):
            if ref.digest not in pictures.images and (made := thumbnail_of(ref)) is not None:
                pictures.images[ref.digest] = made
        before, after = (tuple(r.digest for r in v.images) for v in (original, changed))
        what = change_text(finding, words, uses)
        pictures.flips.append(PicturedFlip(suite.name, item_id, what, finding.answer, before, after))
