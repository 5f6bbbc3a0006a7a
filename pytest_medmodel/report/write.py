"""Writing the three report files, and re-rendering them from a saved ``report.json``."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .document import check_schema, dumps_report
from .html import render_html
from .markdown import render_markdown

NAMES = ("report.json", "report.md", "report.html")


@dataclass(frozen=True)
class Written:
    folder: Path
    seconds: float
    """Time to render and write the three files."""
    html_bytes: int
    step_summary: Path | None = None
    """The GitHub step summary the Markdown was appended to, if any."""


def write_reports(
    folder: Path, report: Mapping[str, Any], step_summary: Path | None = None, plots: bool | None = None
) -> Written:
    """Write report.json, report.md and report.html into ``folder`` (created if missing).

    ``step_summary``: a file to append the Markdown to (``$GITHUB_STEP_SUMMARY``).
    ``plots``: None draws the plots when matplotlib is installed.
    """
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    text = dumps_report(report)
    saved = json.loads(text)  # render what the file holds, so a re-render gives the same pages
    markdown = render_markdown(saved)
    html = render_html(saved, plots)
    (folder / "report.json").write_text(text, encoding="utf-8")
    (folder / "report.md").write_text(markdown, encoding="utf-8")
    (folder / "report.html").write_text(html, encoding="utf-8")
    if step_summary is not None:
        with step_summary.open("a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    return Written(folder, time.perf_counter() - start, len(html.encode("utf-8")), step_summary)


def rerender(report_json: Path, folder: Path | None = None, plots: bool | None = None) -> Written:
    """Render report.md and report.html again from a saved report.json (into its folder by default).

    Raises:
        ValueError: the file is not JSON, not UTF-8, or (with jsonschema installed) breaks the schema.
    """
    report = json.loads(report_json.read_text(encoding="utf-8"))
    check_schema(report)
    return write_reports(folder or report_json.parent, report, plots=plots)
