"""One export file holding many days (a file_glob without {date}), split by event time; blank-
separated fields; a line amount instead of a unit price."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pytest

from core.collection import FileProblem, collect_partition
from core.collection.contracts import ContractError, load_contracts
from tests.conftest import PROJECT_ROOT

CONTRACTS = PROJECT_ROOT / "expectations" / "contracts"
DAYS = [dt.date(1997, 1, 1), dt.date(1997, 1, 2), dt.date(1997, 1, 3)]
MAPPING = """\
mapping:
  file_glob: "history.txt"
  delimiter: whitespace
  timestamp_formats: ["%Y%m%d"]
  columns: {ordered_at: date, recorded_at: date, quantity: cds, line_amount: dollars}
  derived_keys: {order_line_id: record, order_id: record}
  constants: {status: completed, product_id: CD}
"""
# Record numbers: 1..8. Record 4 has a date no format reads, record 6 one field too many,
# record 7 neither a line amount nor a unit price (N/A is a null token).
LOG = """\
 customer_id   date  cds  dollars
 00001 19970102  1   11.77
 00002 19970101  5   77.00
\t00003   19970103  2   20.76
 00004 1997-01-02  1   9.99
 00005 19970102  3   30.00
 00006 19970102  1   12.00  extra
 00007 19970103  1   N/A
 00008 19970101  2   25.50
"""


def _setup(tmp_path, log: str = LOG, mapping: str = MAPPING):
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "orders.yaml").write_text(mapping)
    (tmp_path / "landing" / "orders").mkdir(parents=True)
    (tmp_path / "landing" / "orders" / "history.txt").write_text(log)
    return load_contracts(CONTRACTS, tmp_path / "mappings")["orders"]


def test_every_record_of_a_many_day_export_lands_in_exactly_one_day(tmp_path):
    contract = _setup(tmp_path)
    results = {d: collect_partition(contract, d, tmp_path / "landing", tmp_path / "lake") for d in DAYS}
    assert sum(r.rows_read for r in results.values()) == 8, "every physical record counted once over the range"
    loaded = {
        d: duckdb.sql(f"select _record_number from '{r.raw_path}' order by 1").fetchall() for d, r in results.items()
    }
    assert loaded == {DAYS[0]: [(2,), (8,)], DAYS[1]: [(1,), (5,)], DAYS[2]: [(3,)]}
    bad = {
        d: duckdb.sql(f"select record_number, reason, raw_record from '{r.quarantine_path}' order by 1").fetchall()
        for d, r in results.items()
    }
    # Unplaceable records (no readable date, a line that does not split) go to the file's first day.
    assert [(n, reason) for n, reason, _ in bad[DAYS[0]]] == [(4, "invalid_timestamp:ordered_at"), (6, "malformed")]
    assert bad[DAYS[0]][1][2] == " 00006 19970102  1   12.00  extra", "the original line, byte for byte"
    assert [(n, reason) for n, reason, _ in bad[DAYS[2]]] == [(7, "missing_required:unit_price")]
    assert bad[DAYS[1]] == []
    amounts = duckdb.sql(f"select line_amount, unit_price from '{results[DAYS[0]].raw_path}' order by 1").fetchall()
    assert [(str(a), p) for a, p in amounts] == [("25.50", None), ("77.00", None)]


def test_a_day_without_records_in_the_export_is_an_empty_partition_not_an_error(tmp_path):
    contract = _setup(tmp_path)
    result = collect_partition(contract, dt.date(1997, 1, 9), tmp_path / "landing", tmp_path / "lake")
    assert (result.rows_read, result.rows_quarantined) == (0, 0)


def test_a_many_day_export_without_a_readable_event_time_is_a_file_problem(tmp_path):
    contract = _setup(tmp_path, mapping=MAPPING.replace('["%Y%m%d"]', '["%d.%m.%Y"]'))
    with pytest.raises(FileProblem, match=re.escape("no record has a readable recorded_at ('date')")):
        collect_partition(contract, DAYS[0], tmp_path / "landing", tmp_path / "lake")


def test_a_many_day_export_needs_an_event_time_to_be_split_by(tmp_path):
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "products.yaml").write_text('mapping:\n  file_glob: "catalogue.csv"\n')
    with pytest.raises(ContractError, match=re.escape("has no event_time column; put '{date}' in the file name")):
        load_contracts(CONTRACTS, tmp_path / "mappings")


def test_the_whole_cdnow_log_is_accounted_for_day_by_day(tmp_path):
    """The real log's first week through the collector: per day, the rows of that date in the file."""
    import gzip

    import pandas as pd

    cdnow = PROJECT_ROOT / "tests" / "data" / "cdnow"
    contract = load_contracts(CONTRACTS, cdnow / "mappings")["orders"]
    with gzip.open(cdnow / "landing" / "orders" / "CDNOW_master.txt.gz", "rt") as fh:
        per_day = pd.read_csv(fh, sep=r"\s+", dtype=str).groupby("date").size()
    for day in (dt.date(1997, 1, 1) + dt.timedelta(days=i) for i in range(7)):
        result = collect_partition(contract, day, cdnow / "landing", tmp_path / "lake")
        assert result.rows_read == result.rows_loaded == per_day[day.strftime("%Y%m%d")], day


def test_a_changed_export_is_read_again_by_a_collector_that_read_it_before(tmp_path):
    """Days of a range share the placed records of the file; a file that changed is read afresh."""
    import os

    from core.collection.collect import connect_collector

    contract = _setup(tmp_path)
    con = connect_collector()
    first = collect_partition(contract, DAYS[1], tmp_path / "landing", tmp_path / "lake", con=con)
    export = tmp_path / "landing" / "orders" / "history.txt"
    export.write_text(LOG + " 00009 19970102  4   44.00\n")
    os.utime(export, ns=(export.stat().st_atime_ns, export.stat().st_mtime_ns + 10**9))
    again = collect_partition(contract, DAYS[1], tmp_path / "landing", tmp_path / "lake", con=con)
    assert (first.rows_loaded, again.rows_loaded) == (2, 3)
    con.close()
