"""What ``--medmodel-report`` costs: time to write the three files, and their sizes, for a large run.

Builds a throwaway project with ``--items`` items over four suites (calibration
gates on, tags on every item) and an instant test adapter that answers from the
key, with a seeded spread of confidences and a few wrong answers; records the
baselines; then runs the suites with ``--medmodel-report`` and a few answers
broken, so the report has regressions to list. The plugin itself reports the
write time; the files are then rendered again from report.json ``--repeats``
times (with and without plots) to time the rendering on its own.

Usage:
    python benchmarks/bench_report.py                      # 5,000 items
    python benchmarks/bench_report.py --items 400 --repeats 1

Writes benchmarks/results/report-write.json and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_medmodel.report.write import rerender  # noqa: E402

ADAPTER = '''
"""Answers from the key at once; confidence varies per item; BREAK lists items to answer wrong."""
import hashlib, json, os
from pathlib import Path
from pytest_medmodel import ChoiceResult

KEY = json.loads((Path(__file__).parent / "key.json").read_text())

class Instant:
    name = "instant"

    def __init__(self):
        self.broken = set(filter(None, os.environ.get("BREAK", "").split(",")))
        self.fingerprint = "instant:" + hashlib.sha256(",".join(sorted(self.broken)).encode()).hexdigest()[:12]

    def loglikelihood(self, requests):
        out = []
        for request in requests:
            item = request.meta["item"]
            digest = int(hashlib.sha256(item.encode()).hexdigest()[:8], 16)
            right = KEY[item]
            wrong = digest % 7 == 0 or item in self.broken
            pick = (right + 1 + digest % 3) % 4 if wrong else right
            top = -0.1 - (digest % 100) / 60.0
            out.append(ChoiceResult(tuple(top if k == pick else top - 0.3 - (k + digest) % 3 for k in range(4))))
        return out

def make():
    return Instant()
'''
SUITES = {"large": 0.4, "medium": 0.3, "small": 0.2, "tiny": 0.1}
TAGS = ["cardiology", "pharmacology", "neurology", "infectious_disease", "pediatrics"]


def build_project(folder: Path, items: int) -> list[str]:
    """Suites, data, key and adapter; returns the items to break in the reported run (1 in 40)."""
    (folder / "suites" / "data").mkdir(parents=True)
    (folder / "instant.py").write_text(ADAPTER)
    (folder / "pytest.ini").write_text("[pytest]\n")
    key: dict[str, int] = {}
    for name, share in SUITES.items():
        rows = []
        for i in range(int(items * share)):
            item_id = f"{name}-{i:05d}"
            key[item_id] = i % 4
            rows.append(
                {
                    "id": item_id,
                    "question": f"[{item_id}] Which option is right?",
                    "choices": ["alpha", "beta", "gamma", "delta"],
                    "answer": "ABCD"[i % 4],
                    "tags": [TAGS[i % len(TAGS)]],
                }
            )
        (folder / "suites" / "data" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        gates = "gates:\n  ece: {}\n  brier: {}\n"
        (folder / "suites" / f"{name}.suite.yaml").write_text(
            f"task: multiple_choice\ndata:\n  path: data/{name}.jsonl\nscoring: letter\n{gates}"
        )
    (folder / "key.json").write_text(json.dumps(key))
    return sorted(key)[::40]


def run(folder: Path, *args: str, broken: list[str] = ()) -> tuple[str, float]:
    env = {**os.environ, "BREAK": ",".join(broken), "MEDMODEL_CACHE_DIR": str(folder / "cache")}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:randomly", "--medmodel=py:instant:make", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    return done.stdout, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "report-write.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="medmodel-bench-report-") as tmp:
        folder = Path(tmp)
        broken = build_project(folder, args.items)
        run(folder, "--snapshot-update")
        out = folder / "report"
        stdout, run_seconds = run(folder, f"--medmodel-report={out}", broken=broken)
        said = re.search(r"report: .*report.html \((\d+) KiB\).*written in ([\d.]+) s", stdout)
        if said is None:
            raise SystemExit(f"the run did not report writing the report:\n{stdout[-3000:]}")
        with_plots, without = [], []
        for _ in range(args.repeats):
            with_plots.append(rerender(out / "report.json", folder / "again", plots=True).seconds)
            without.append(rerender(out / "report.json", folder / "again-plain", plots=False).seconds)
        report = json.loads((out / "report.json").read_text())
        result = {
            "items": sum(len([i for i in s["items"] if not i["variant"]]) for s in report["suites"]),
            "suites": len(report["suites"]),
            "regressed": sum(s["comparison"]["regressed"] for s in report["suites"]),
            "plugin_write_seconds": float(said.group(2)),
            "run_seconds": round(run_seconds, 2),
            "rerender_seconds_with_plots": [round(s, 3) for s in with_plots],
            "rerender_seconds_without_plots": [round(s, 3) for s in without],
            "median_rerender_with_plots": round(statistics.median(with_plots), 3),
            "median_rerender_without_plots": round(statistics.median(without), 3),
            "bytes": {name: (out / name).stat().st_size for name in ("report.json", "report.md", "report.html")},
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
