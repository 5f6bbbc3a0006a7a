"""``gate[agreement]``: the share of paired items whose chosen answer changed, against a tolerance.

Accuracy cannot see a model whose behaviour changed wholesale: 27 answers newly
right and 27 newly wrong out of 110 leave accuracy where it was. This gate counts
every paired item whose answer differs from the baseline's (right to wrong, wrong
to right, or one wrong answer to another) and fails when that share exceeds
``max_changed`` and a one-sided exact binomial test says the true share exceeds
it too (significant at the gate's level under the suite's shared alpha, :mod:`.family`).
Its test is already against the tolerance, so it has no ``tolerance`` setting.
Opt-in per suite (``gates: [{name: agreement}]``); the shipped suites turn it on.
"""

from __future__ import annotations

from ..stats.significance import binomial_upper_tail
from ..suite.schema import Param
from .base import Evidence, GateContext, GateResult, gate
from .comparison import SHOWN

PARAMS = {
    "max_changed": Param((int, float), "a number between 0 and 1", 0.2, fraction=True),
}


@gate("agreement", params=PARAMS, tested=True)
def agreement(ctx: GateContext) -> GateResult:
    """Fail when too many paired items changed their answer, whichever way."""
    c = ctx.comparison
    if not c.paired:
        return GateResult("agreement", "skipped", "no paired item: nothing to compare (see gate[accuracy])")
    limit = float(ctx.settings["max_changed"])
    changed = len(c.answer_changes)
    share = changed / c.paired
    p = binomial_upper_tail(changed, c.paired, limit) if 0 < limit < 1 else (0.0 if share > limit else 1.0)
    newly_right, newly_wrong = len(c.improved), len(c.regressed)
    lines = [
        f"answers changed on {changed} of {c.paired} paired items ({share:.1%}; max_changed {limit:.0%}): "
        f"{newly_right} newly right, {newly_wrong} newly wrong, {changed - newly_right - newly_wrong} from one "
        f"wrong answer to another; one-sided exact binomial p = {p:.4g} that the true share exceeds "
        f"{limit:.0%}"
    ]
    if c.answer_changes:
        shown = ", ".join(f"{i} {a}->{b}" for i, a, b in c.answer_changes[:SHOWN])
        more = f" (+{changed - SHOWN} more)" if changed > SHOWN else ""
        lines.append(f"changed answers (baseline->current): {shown}{more}")
    headline = f"the model's answers changed wholesale on suite {c.suite} (profile {c.profile})"
    numbers = {"paired": c.paired, "changed": changed, "share": round(share, 4)}
    return GateResult("agreement", "passed", "\n".join(lines), numbers, Evidence(p, share > limit + 1e-12, headline))
