"""What one dbt invocation costs the orchestrating process, besides dbt's own work.

    .venv/bin/python benchmarks/dbt_invocation_benchmark.py [--repeat 3]   (part of make bench)

The same `dbt ls` (no warehouse access, partial parse state kept) three ways, alternating:
- the platform's dbt resource (orchestration.processing.project.dbt_resource), as every dbt step calls it;
- dagster-dbt's own `DbtCliResource`, which also opens a dbt adapter in the calling process first;
- the limit: the same command as a bare subprocess, no Dagster.
It also times dagster-dbt's adapter set-up alone and the Python import of dbt, the fixed part
of every dbt process's start-up.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import write_results  # noqa: E402

ARGS = ["ls", "--select", "config.materialized:view", "--resource-type", "model", "--quiet"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat

    from dagster_dbt import DbtCliResource
    from dagster_dbt.core.resource import pushd

    from orchestration.processing.project import DBT_DIR, dbt_executable, dbt_project, dbt_resource

    dbt_project()  # the manifest and the parse state of `dbt parse`
    # The profile `dbt parse` used, so the kept parse state stays valid (dbt ls opens no connection).
    os.environ.setdefault("DMP_DBT_DUCKDB_PATH", str(DBT_DIR / "target" / "parse.duckdb"))
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    state = DBT_DIR / "target" / "partial_parse.msgpack"
    ours = dbt_resource()
    theirs = DbtCliResource(
        project_dir=ours.project_dir, profiles_dir=ours.profiles_dir, dbt_executable=ours.dbt_executable
    )
    work = Path(tempfile.mkdtemp(prefix="dbt-invocation-"))

    def target(name: str) -> Path:
        path = work / f"{name}-{time.monotonic_ns()}"
        path.mkdir()
        shutil.copyfile(state, path / "partial_parse.msgpack")
        return path

    def through(resource) -> float:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # dagster-dbt echoes dbt's output
            invocation = resource.cli(ARGS, target_path=target("resource")).wait()
        elapsed = time.perf_counter() - start
        assert invocation.is_successful()
        return elapsed

    def bare() -> float:
        path = target("bare")
        start = time.perf_counter()
        subprocess.run(
            [dbt_executable(), *ARGS, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)],
            env={**os.environ, "DBT_TARGET_PATH": str(path), "DBT_LOG_PATH": str(path)},
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start

    def adapter() -> float:
        start = time.perf_counter()
        with pushd(theirs.project_dir):
            theirs._initialize_dbt_core_adapter(ARGS)
        return time.perf_counter() - start

    def dbt_import() -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import dbt.cli.main"], check=True)
        return time.perf_counter() - start

    runs: dict[str, list[float]] = {"platform": [], "dagster_dbt": [], "bare": [], "adapter": [], "import": []}
    for _ in range(repeat):
        runs["platform"].append(through(ours))
        runs["dagster_dbt"].append(through(theirs))
        runs["bare"].append(bare())
        runs["adapter"].append(adapter())
        runs["import"].append(dbt_import())
    shutil.rmtree(work, ignore_errors=True)

    def cell(name: str) -> str:
        return f"{min(runs[name]):.2f} | " + ", ".join(f"{v:.2f}" for v in runs[name])

    section = f"""## dbt invocation overhead

Command: `python benchmarks/dbt_invocation_benchmark.py --repeat {repeat}` — run on {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} ({os.cpu_count()} cores).

The same `{" ".join(ARGS)}` (the project's parse state kept), alternating, {repeat} runs each:

| path | best s | all runs (s) |
|---|---|---|
| the platform's dbt resource (every dbt step of a run) | {cell("platform")} |
| dagster-dbt's `DbtCliResource` (opens a dbt adapter in the calling process first) | {cell("dagster_dbt")} |
| bare `dbt` subprocess, no Dagster (the limit) | {cell("bare")} |
| of dagster-dbt's path: the adapter set-up alone | {cell("adapter")} |
| of every dbt process: `import dbt.cli.main` | {cell("import")} |

A platform run makes three dbt invocations (views, daily models, tables), so dagster-dbt's adapter would
add about three times the adapter line; what remains of a dbt step's start-up is dbt's own (its import
and its project loading), paid once per invocation.
"""
    write_results("dbt_invocation", {"args": ARGS, "repeat": repeat, "runs": runs}, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
