"""Two versions of one baseline, compared the way a reviewer reads a model change in a pull request.

A model change lands as a diff of committed baseline files; ``python -m
pytest_medmodel diff OLD NEW`` turns that diff into the paired statistics the
gates use and the list of items whose answers changed. OLD and NEW are files, or
``REV:PATH`` read from git (``HEAD~1:baselines/demo/clinical_facts.json``); a
single PATH compares its committed version (``HEAD:PATH``) with the file on disk.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..stats.significance import binomial_upper_tail, mcnemar_one_sided, wilson_interval
from ..suite.types import split_key
from .format import Baseline, BaselineError

SHOWN = 20
"""Changed items listed before "(+N more)"."""


def refuse_option_like(spec: str) -> None:
    """A spec starting with ``-`` is refused: given to ``git show`` it would be an option."""
    if spec.startswith("-"):
        raise BaselineError(
            f"{spec}: starts with '-', which git would take for an option; name a file ./{spec}, a revision REV:PATH"
        )


def load_version(spec: str, cwd: Path | None = None) -> Baseline:
    """A baseline from a file, or from ``REV:PATH`` in the git repository around ``cwd``.

    A spec starting with ``-`` is refused: given to ``git show`` it is an option
    (``--output=FILE:x`` makes git write FILE). ``--end-of-options`` guards git as well.
    """
    refuse_option_like(spec)
    path = (Path(cwd) if cwd is not None else Path()) / spec
    if not path.exists() and ":" in spec:
        argv = ["git", "show", "--end-of-options", spec]
        done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
        if done.returncode != 0:
            error = done.stderr.decode("utf-8", "replace").strip()
            raise BaselineError(f"{spec}: git cannot show it ({error or 'unknown error'})")
        data = done.stdout
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BaselineError(f"{spec}: cannot be read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{spec}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    try:
        return Baseline.from_json(json.loads(text), spec)
    except ValueError as exc:
        raise BaselineError(f"{spec}: not JSON ({exc})") from None


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def diff_lines(old: Baseline, new: Baseline, old_name: str = "old", new_name: str = "new") -> list[str]:
    """What changed between two baselines of one suite, paired by item (original items; variants counted)."""
    lines = [f"suite {new.suite} (profile {new.profile}): {old_name} -> {new_name}"]
    if old.model_fingerprint != new.model_fingerprint:
        lines.append(f"model: {old.model_name} ({old.model_fingerprint}) -> {new.model_name} ({new.model_fingerprint})")
    if old.suite_fingerprint != new.suite_fingerprint:
        lines.append("suite fingerprint changed: prompt, scoring or items differ between the two")
    originals = sorted(k for k in set(old.items) & set(new.items) if not split_key(k)[1])
    paired = [k for k in originals if old.items[k]["hash"] == new.items[k]["hash"]]
    added = sorted(k for k in set(new.items) - set(old.items) if not split_key(k)[1])
    removed = sorted(k for k in set(old.items) - set(new.items) if not split_key(k)[1])
    if added or removed or len(paired) < len(originals):
        lines.append(
            f"items: {len(added)} added, {len(removed)} removed, {len(originals) - len(paired)} changed content "
            "(not compared)"
        )
    if not paired:
        return [*lines, "no item is in both with the same content: nothing to compare"]
    was = sum(bool(old.items[k]["correct"]) for k in paired)
    now = sum(bool(new.items[k]["correct"]) for k in paired)
    regressed = [k for k in paired if old.items[k]["correct"] and not new.items[k]["correct"]]
    improved = [k for k in paired if new.items[k]["correct"] and not old.items[k]["correct"]]
    changed = [k for k in paired if old.items[k]["answer"] != new.items[k]["answer"]]
    n = len(paired)
    (a, b), (c, d) = wilson_interval(was, n), wilson_interval(now, n)
    lines.append(
        f"accuracy on {n} paired items: {_pct(was / n)} [{_pct(a)}, {_pct(b)}] -> {_pct(now / n)} "
        f"[{_pct(c)}, {_pct(d)}] (95% Wilson), {(now - was) / n * 100:+.1f} points"
    )
    worse, better = mcnemar_one_sided(len(regressed), len(improved)), mcnemar_one_sided(len(improved), len(regressed))
    lines.append(
        f"regressed {len(regressed)}, improved {len(improved)}; one-sided exact McNemar p = {worse:.4g} that it got "
        f"worse, {better:.4g} that it got better"
    )
    share = len(changed) / n
    lines.append(
        f"answers changed on {len(changed)} of {n} items ({share:.1%}; binomial p = "
        f"{binomial_upper_tail(len(changed), n, 0.2):.4g} that more than 20% changed)"
    )
    variants = sorted(k for k in set(old.items) & set(new.items) if split_key(k)[1])
    flipped = [k for k in variants if old.items[k]["answer"] != new.items[k]["answer"]]
    if variants:
        lines.append(f"perturbed variants: answers changed on {len(flipped)} of {len(variants)}")
    for key in changed[:SHOWN]:
        then, now_entry = old.items[key], new.items[key]
        mark = "still right" if then["correct"] else "still wrong"
        mark = "regressed" if key in regressed else "improved" if key in improved else mark
        lines.append(f"  {key}: {then['answer']} -> {now_entry['answer']} ({mark})")
    if len(changed) > SHOWN:
        lines.append(f"  (+{len(changed) - SHOWN} more)")
    return lines
