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
