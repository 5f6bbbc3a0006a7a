"""``python -m pytest_medmodel``: the commands a reviewer runs outside pytest.

* ``diff OLD [NEW]``: two versions of a baseline, with paired statistics
  (:mod:`pytest_medmodel.baselines.diff`).
* ``report REPORT_JSON [--out DIR] [--no-plots]``: render report.md and
  report.html again from a saved report.json (:mod:`pytest_medmodel.report.write`).
* ``demo-folder``: the demo model as a transformers folder (converted once),
  to serve it (``transformers serve FOLDER``) or to pass as ``#tokenizer=FOLDER``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .baselines.diff import diff_lines, load_version, refuse_option_like
from .baselines.format import BaselineError
from .text_safety import inert


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_medmodel", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    diff = sub.add_parser("diff", help="compare two versions of a baseline file")
    diff.add_argument("old", help="a baseline file, or REV:PATH from git")
    diff.add_argument("new", nargs="?", help="a baseline file, or REV:PATH; default: OLD's committed version vs disk")
    report = sub.add_parser("report", help="render report.md and report.html again from a report.json")
    report.add_argument("report_json", type=Path, help="a report.json written by --medmodel-report")
    report.add_argument("--out", type=Path, help="folder to write to (default: the report.json's folder)")
    report.add_argument("--no-plots", action="store_true", help="leave the plots out even when matplotlib is installed")
    sub.add_parser("demo-folder", help="print the demo model's transformers folder (to serve it, or as #tokenizer=)")
    args = parser.parse_args(list(argv))
    if args.command == "demo-folder":
        return _demo_folder()
    if args.command == "report":
        return _report(args.report_json, args.out, False if args.no_plots else None)
    old_spec, new_spec = (args.old, args.new) if args.new else (f"HEAD:{args.old}", args.old)
    try:
        for spec in (args.old, args.new or ""):
            refuse_option_like(spec)
        old, new = load_version(old_spec), load_version(new_spec)
    except BaselineError as exc:
        print(inert(f"error: {exc}"))  # may quote git's message or the file
        return 2
    for line in diff_lines(old, new, old_spec, new_spec):
        print(inert(line))  # model names and answers from the files: no terminal control gets through
    return 0


def _report(source: Path, out: Path | None, plots: bool | None) -> int:
    from .report.write import rerender

    try:
        written = rerender(source, out, plots)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # ValueError: not JSON, not UTF-8, or breaks the schema; the others: a part of the wrong type or missing
        print(inert(f"error: {source} is not a readable report.json ({type(exc).__name__}: {exc})"))
        return 2
    size = f"{written.html_bytes / 1024:.0f} KiB"
    print(f"wrote {written.folder / 'report.md'} and {written.folder / 'report.html'} ({size})")
    return 0


def _demo_folder() -> int:
    from .models.base import AdapterError
    from .models.hf.checkpoints import gguf_folder
    from .models.specs import demo_gguf_path

    try:
        print(gguf_folder(demo_gguf_path(), log=lambda line: print(line, file=sys.stderr)))
    except AdapterError as exc:
        print(f"error: {exc}")
        return 2
    return 0
