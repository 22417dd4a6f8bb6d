"""Every input row lands in exactly one place, and the quarantine matches the injected defects."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from core.collection import collect_partition
from simulator.exports import DefectRates
from tests.conftest import MONTH_END, MONTH_START


def test_accounting_identity_and_quarantine_match_ground_truth(sim_month, contracts, tmp_path):
    landing, lake = sim_month / "landing", tmp_path / "lake"
    truth = pd.read_csv(sim_month / "ground_truth" / "defects.csv")
    expected_bad = truth[truth["defect"].isin(DefectRates.QUARANTINED)].groupby("file")["rows"].sum()
    checked = 0
    day = MONTH_START
    while day <= MONTH_END:
        for source, contract in contracts.items():
            result = collect_partition(contract, day, landing, lake)
            for f in result.files:
                # Independent count of data lines in the file.
                lines = [x for x in (landing / source / f.file).read_text().splitlines() if x.strip()]
                data_lines = len(lines) - (1 if contract.mapping.format == "csv" else 0)
                assert f.rows_read == data_lines, f.file
                assert f.rows_read == f.rows_loaded + f.rows_quarantined, f.file
                want = int(expected_bad.get(f"{source}/{f.file}", 0))
                assert f.rows_quarantined == want, f"{source}/{f.file}: {result.reasons}"
                checked += 1
            on_disk = duckdb.sql(
                f"select (select count(*) from '{result.raw_path}'), (select count(*) from '{result.quarantine_path}')"
            ).fetchall()[0]
            assert on_disk == (result.rows_loaded, result.rows_quarantined)
        day += dt.timedelta(days=1)
    assert checked == 9 * 31
