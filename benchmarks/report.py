"""Writing benchmark results: a JSON file per benchmark and one section each in RESULTS.md."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"


def write_results(name: str, result: dict, section: str) -> None:
    """Save `result` as results/<name>.json and replace (or add) `section` in RESULTS.md.

    The section must start with its own `## ` heading line, which identifies it.
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    heading = section.splitlines()[0]
    section = section.rstrip("\n") + "\n\n"
    text = (
        RESULTS_MD.read_text()
        if RESULTS_MD.exists()
        else "# Benchmark results\n\nEach section is rewritten by its benchmark.\n\n"
    )
    if heading in text:
        head, _, rest = text.partition(heading)
        nxt = rest.find("\n## ")
        text = head + section + (rest[nxt + 1 :] if nxt >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS_MD.write_text(text.rstrip("\n") + "\n")
