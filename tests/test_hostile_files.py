"""A corpus of hostile export files (tests/data/hostile/, one folder per case, outcomes in cases.csv),
collected with the shipped contracts: every file either loads, quarantines its bad records with the
expected reason, or fails its day with a file problem that names it, and then the day's previous
partition is intact. Records are counted independently (cases.csv), every record lands in exactly
one place, and no message carries a personal-data value."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pytest

from core.collection import FileProblem, collect_partition, partition_path
from tests.conftest import PROJECT_ROOT

CORPUS = PROJECT_ROOT / "tests" / "data" / "hostile"
DAY = dt.date(2026, 1, 10)
CASES = list(csv.DictReader((CORPUS / "cases.csv").open(encoding="utf-8")))
PERSONAL = ("@example.com", "ana.li", "138 0013 8000")


def test_the_corpus_has_at_least_40_cases_each_with_its_folder():
    assert len(CASES) >= 40
    assert {c["case"] for c in CASES} == {p.name for p in CORPUS.iterdir() if p.is_dir()}


def _baseline(source: str, landing: Path, lake: Path, contract) -> bytes:
    """Collect a good file for the day first, so a failing file can be seen to leave it alone."""
    good = CORPUS / ("jsonl_good" if source == "events" else "good") / source
    if source == "users":
        (landing / source).mkdir(parents=True)
        (landing / source / f"{DAY}.csv").write_text(
            "customer_id,signed_up_at,email,phone,city,acquisition_channel\nC1,2026-01-10 08:00:00,,,Shanghai,organic\n"
        )
    else:
        shutil.copytree(good, landing / source)
    collect_partition(contract, DAY, landing, lake)
    shutil.rmtree(landing / source)
    return partition_path(lake / "raw", source, DAY).read_bytes()


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_hostile_file(case, contracts, tmp_path):
    source, outcome, detail, records = case["source"], case["outcome"], case["detail"], int(case["records"])
    contract = contracts[source]
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    before = _baseline(source, landing, lake, contract)
    shutil.copytree(CORPUS / case["case"] / source, landing / source)

    if outcome == "file_problem":
        with pytest.raises(FileProblem) as info:
            collect_partition(contract, DAY, landing, lake)
        message = str(info.value)
        assert detail in message, message
        assert str(landing / source) in message, "the message names the file (or the folder) it is about"
        assert "Fix:" in message
        assert not any(p in message for p in PERSONAL), message
        assert partition_path(lake / "raw", source, DAY).read_bytes() == before, "the previous partition is intact"
        return

    result = collect_partition(contract, DAY, landing, lake)
    assert result.rows_read == records, "rows_read counts the file's records"
    assert result.rows_read == result.rows_loaded + result.rows_quarantined
    if outcome == "loaded":
        assert result.reasons == {} and result.rows_loaded == records
    else:
        assert detail in result.reasons, result.reasons
    assert not any(p in str(result.reasons) for p in PERSONAL)


@pytest.mark.parametrize("case", ["gzip_compressed", "utf8_bom", "fullwidth_and_zero_width_header", "jsonl_gzip"])
def test_schema_drift_reads_the_columns_of_compressed_and_odd_headers(case, contracts):
    from core.collection import find_files
    from core.quality import AlertingConfig, files_drift

    source = next(c["source"] for c in CASES if c["case"] == case)
    files = find_files(CORPUS / case, contracts[source], DAY)
    outcome = files_drift(contracts[source], files, 2, {}, AlertingConfig())
    # The file's own column names are read (not compressed bytes or marks): nothing new, nothing retyped.
    assert outcome.metrics["new_columns"] == [] and outcome.level != "red", outcome.message
