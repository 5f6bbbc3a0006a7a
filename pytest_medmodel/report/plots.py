"""The report's plots, as inline SVG text: matplotlib when the ``report`` extra is installed.

SVG rather than an image file keeps ``report.html`` one self-contained file: the
figure's text is written as text (no embedded fonts, no font files), its ids
come from a fixed salt and its date is left out, so the same figures give the
same bytes in every run, serial or distributed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

EXTRA = "pip install 'pytest-medmodel[report]'"
"""What to run for the plots."""
NOW, THEN = "#1f6feb", "#9a6700"


def plotting_available() -> bool:
    """Whether matplotlib imports (the ``report`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def reliability_svg(
    current: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]] | None, prefix: str = "plot"
) -> str:
    """A reliability diagram: accuracy against mean confidence per equal-mass bin, this run against the
    baseline, the diagonal where confidence equals accuracy; marker area follows the bin's item count.

    ``prefix`` starts every id in the figure, so several figures inline in one page never share one."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 3.6), dpi=100)
    try:
        ax.plot([0, 1], [0, 1], color="#8c959f", linestyle="--", linewidth=1, label="perfect calibration")
        _series(ax, current, NOW, "this run", "o", filled=True)
        if baseline:  # drawn over the run, hollow and dashed: an unchanged model shows both
            _series(ax, baseline, THEN, "baseline", "s", filled=False)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("mean confidence (equal-mass bins)")
        ax.set_ylabel("accuracy")
        ax.grid(True, linewidth=0.4, color="#d0d7de")
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        fig.tight_layout()
        return _svg(fig, prefix)
    finally:
        plt.close(fig)


ABLATION = "#cf222e"


def robustness_svg(rows: Sequence[Mapping[str, Any]], prefix: str = "robustness") -> str:
    """Accuracy under each perturbation and ablation: this run (dot, 95% Wilson interval), the baseline
    (hollow square), the same items unperturbed (grey bar) and chance (dotted). An ablation's gap to the
    grey bar is the image reliance, written beside it."""
    from ..stats.significance import wilson_interval

    plt = _pyplot()
    height = 0.9 + 0.32 * len(rows)
    fig, ax = plt.subplots(figsize=(6.4, height), dpi=100)
    try:
        for y, row in enumerate(reversed(rows)):
            n, now = row["n"], row.get("accuracy")
            color = ABLATION if row.get("ablation") else NOW
            ax.plot([row["original_accuracy"]] * 2, [y - 0.3, y + 0.3], color="#8c959f", linewidth=2.5)
            if now is not None:
                low, high = wilson_interval(round(now * n), n)
                ax.plot([low, high], [y, y], color=color, linewidth=1.2)
                ax.scatter([now], [y], s=28, color=color, zorder=3)
            if row.get("baseline_accuracy") is not None:
                ax.scatter([row["baseline_accuracy"]], [y], s=40, marker="s", facecolors="none", edgecolors=THEN)
            if row.get("ablation") and now is not None:
                gap = f"reliance {(row['original_accuracy'] - now) * 100:+.1f}"
                then, then_original = row.get("baseline_accuracy"), row.get("baseline_original_accuracy")
                if then is not None and then_original is not None:
                    gap += f" (baseline {(then_original - then) * 100:+.1f})"
                where = (1.01, y)
                ax.annotate(gap, where, xycoords=("axes fraction", "data"), fontsize=7, va="center", color=ABLATION)
        if rows:
            ax.axvline(sum(r.get("chance") or 0 for r in rows) / len(rows), color="#8c959f", linestyle=":", linewidth=1)
        ax.set_yticks(range(len(rows)), [r["family"] for r in reversed(rows)], fontsize=8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel(
            "accuracy (dot: this run, 95% CI; square: baseline; bar: unperturbed; dotted: chance)", fontsize=7
        )
        ax.grid(True, axis="x", linewidth=0.4, color="#d0d7de")
        fig.tight_layout()
        return _svg(fig, prefix)
    finally:
        plt.close(fig)


def _series(ax: Any, points: Sequence[Mapping[str, Any]], color: str, label: str, marker: str, filled: bool) -> None:
    x = [p["confidence"] for p in points]
    y = [p["accuracy"] for p in points]
    total = sum(p["n"] for p in points) or 1
    sizes = [16 + 240 * p["n"] / total for p in points]
    ax.plot(x, y, color=color, linewidth=1.2, linestyle="-" if filled else "--", label=label)
    face = color if filled else "none"
    ax.scatter(x, y, s=sizes, marker=marker, facecolors=face, edgecolors=color, linewidths=1.0, alpha=0.8)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display; set before pyplot is first imported
    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text: no embedded glyphs, no font files
    matplotlib.rcParams["svg.hashsalt"] = "pytest-medmodel"  # the same ids in every run
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any, prefix: str) -> str:
    """The figure as an ``<svg>`` element to inline: no XML prolog, no DOCTYPE, no metadata block."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    text = re.sub(r'\bid="', f'id="{prefix}-', text)
    return text.replace("url(#", f"url(#{prefix}-").replace('href="#', f'href="#{prefix}-')
