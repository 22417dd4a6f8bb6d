"""The command line says what is wrong in words a person can act on."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
        timeout=300,
    )


def test_a_range_before_the_first_partition_names_the_setting(tmp_path):
    done = _cli(
        "run",
        "--start",
        "2025-01-01",
        "--end",
        "2025-01-02",
        DMP_DATA_DIR=str(tmp_path),
        DMP_LANDING_DIR=str(tmp_path / "landing"),
        DMP_PARTITIONS_START="2025-10-01",
    )
    assert done.returncode == 2
    assert "DMP_PARTITIONS_START=2025-01-01" in done.stderr and "Traceback" not in done.stderr
