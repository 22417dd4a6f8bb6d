"""A range collected in batches of days gives what collecting each day on its own gives.

`collect_partitions` judges a batch of days in one statement per step; `collect_partition` (one
day) is the reference. Compared on a simulated month with every defect switched on, source by
source and day by day: the written raw and quarantine rows (in order), the counts per file, the
reasons, the values. A day whose file is broken fails alone, as it would day by day.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil

import duckdb

from core.collection import collect_partition, collect_partitions
from core.collection.collect import BATCH_DAYS, FileProblem, _collect_days, connect_collector
from core.collection.files import find_files
from core.collection.writing import partition_path
from tests.conftest import MONTH_END, MONTH_START

DAYS = [MONTH_START + dt.timedelta(days=i) for i in range((MONTH_END - MONTH_START).days + 1)]


def _rows(path) -> tuple[list[tuple], list[tuple]]:
    """A partition file's columns (name and type) and rows, in the file's order."""
    con = duckdb.connect()
    try:
        read = f"select * from read_parquet('{path}')"
        return con.execute(f"describe {read}").fetchall(), con.execute(read).fetchall()
    finally:
        con.close()


def _same_result(batched, alone) -> None:
    assert batched.day == alone.day
    assert [(f.file, f.bytes, f.rows_read, f.rows_loaded, f.rows_quarantined) for f in batched.files] == [
        (f.file, f.bytes, f.rows_read, f.rows_loaded, f.rows_quarantined) for f in alone.files
    ]
    assert (batched.rows_read, batched.rows_loaded, batched.rows_quarantined, batched.reasons) == (
        alone.rows_read,
        alone.rows_loaded,
        alone.rows_quarantined,
        alone.reasons,
    )
    assert math.isclose(batched.value_read, alone.value_read, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(batched.value_quarantined, alone.value_quarantined, rel_tol=1e-9, abs_tol=1e-9)


# CSV with a derived line key and returns (orders), JSON lines, the largest (events), an optional
# source (nps_surveys).
SOURCES = ("orders", "events", "nps_surveys")


def test_a_month_in_batches_equals_day_by_day(sim_month, contracts, tmp_path):
    landing = sim_month / "landing"
    assert len(DAYS) <= BATCH_DAYS * 2
    reference = {}
    con = connect_collector()
    chosen = {source: contracts[source] for source in SOURCES}
    for source, contract in chosen.items():
        for day in DAYS:
            reference[source, day] = collect_partition(contract, day, landing, tmp_path / "alone", con=con)
    con.close()
    quarantined = 0
    # Two threads: a batch's days are written by one partitioned COPY, whose rows DuckDB keeps in
    # the query's order only on one thread (the writer sees to that).
    con = connect_collector(threads=2)
    for source, contract in chosen.items():
        # The batch itself (collect_partitions would fall back to day by day if it raised).
        halves = [DAYS[:16], DAYS[16:]]
        batched = [r for half in halves for r in _collect_days(contract, half, landing, tmp_path / "batched", con)]
        for day, result in zip(DAYS, batched, strict=True):
            _same_result(result, reference[source, day])
            quarantined += result.rows_quarantined
            for kind in ("raw", "quarantine"):
                ours = _rows(partition_path(tmp_path / "batched" / kind, source, day))
                theirs = _rows(partition_path(tmp_path / "alone" / kind, source, day))
                assert ours == theirs, (source, day, kind)
    con.close()
    assert quarantined > 100, "the month's defects are quarantined"


def test_a_broken_day_fails_alone_and_the_others_are_collected(sim_month, contracts, tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(sim_month / "landing", landing)
    contract = contracts["orders"]
    broken_day = DAYS[10]
    (broken,) = find_files(landing, contract, broken_day)
    broken.write_bytes(b"\xff\xfe not an export at all \x00\x00\x00")
    results = dict(collect_partitions(contract, DAYS, landing, tmp_path / "lake", workers=1))
    assert isinstance(results[broken_day], FileProblem)
    assert not partition_path(tmp_path / "lake" / "raw", "orders", broken_day).exists()
    con = connect_collector()
    for day in DAYS:
        if day == broken_day:
            continue
        _same_result(results[day], collect_partition(contract, day, landing, tmp_path / "alone", con=con))
    con.close()


def test_the_hostile_corpus_in_batches_equals_day_by_day(contracts, tmp_path):
    """Files nobody here wrote the platform for: every case of the hostile corpus (tests/data/hostile)
    that its day survives (every case but the file problems, which fail their day alone, as tested
    above) on consecutive days of one landing zone: one batch per source, and day by day."""
    from tests.test_hostile_files import CASES, CORPUS, DAY

    by_source: dict[str, list[str]] = {}
    for case in CASES:
        if case["outcome"] != "file_problem":
            by_source.setdefault(case["source"], []).append(case["case"])
    compared = 0
    for source, cases in by_source.items():
        landing = tmp_path / source / "landing"
        days = []
        for case in cases:
            files = [p for p in (CORPUS / case / source).iterdir() if p.is_file()]
            if len(files) != 1 or DAY.isoformat() not in files[0].name:
                continue
            day = DAY + dt.timedelta(days=len(days))
            (landing / source).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(files[0], landing / source / files[0].name.replace(DAY.isoformat(), day.isoformat()))
            days.append(day)
        contract = contracts[source]
        con = connect_collector(threads=1)
        # The batch itself: collect_partitions would fall back to day by day if it raised.
        batched = dict(zip(days, _collect_days(contract, days, landing, tmp_path / source / "batched", con)))
        for day in days:
            alone = collect_partition(contract, day, landing, tmp_path / source / "alone", con=con)
            _same_result(batched[day], alone)
            for kind in ("raw", "quarantine"):
                ours = _rows(partition_path(tmp_path / source / "batched" / kind, source, day))
                theirs = _rows(partition_path(tmp_path / source / "alone" / kind, source, day))
                assert ours == theirs, (source, day, kind)
            compared += 1
        con.close()
    assert compared >= 20


def test_a_partitioned_write_keeps_the_querys_order_on_a_many_threaded_connection(tmp_path):
    """Enough rows that DuckDB splits the scan among threads (several row groups of 122,880 rows):
    every day's file still holds its rows in the query's order."""
    from core.collection.writing import copy_partitioned

    con = duckdb.connect()
    con.execute("SET threads = 2")
    query = "select i, i % 4 as d from range(1000000) t(i) order by i"
    files = copy_partitioned(con, query, "d", tmp_path / "days")
    assert con.execute("select current_setting('threads')").fetchone()[0] == 2, "the connection's setting is restored"
    for day, path in files.items():
        unordered, rows = con.execute(
            f"select count(*) filter (where i < prev), count(*) "
            f"from (select i, lag(i) over () as prev from read_parquet('{path}'))"
        ).fetchone()
        assert (unordered, rows) == (0, 250000), day


def test_each_hostile_file_between_good_days_in_one_batch_equals_day_by_day(contracts, tmp_path):
    """A batch reads consecutive alike files in one DuckDB statement, which is not the same as
    reading each alone (an unterminated quote among good files there swallows the rest of its file
    and no rejected line records it): each hostile case that its day survives, between two good
    days of its source in one batch, gives what collecting each day alone gives."""
    from tests.test_hostile_files import CASES, CORPUS, DAY

    good = {"orders": CORPUS / "good" / "orders", "events": CORPUS / "jsonl_good" / "events"}
    compared = 0
    for case in CASES:
        if case["outcome"] == "file_problem" or case["source"] not in good:
            continue
        source = case["source"]
        files = [p for p in (CORPUS / case["case"] / source).iterdir() if p.is_file()]
        if len(files) != 1 or DAY.isoformat() not in files[0].name:
            continue
        (good_file,) = [p for p in good[source].iterdir() if p.is_file()]
        landing = tmp_path / case["case"] / "landing" / source
        landing.mkdir(parents=True)
        days = [DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)]
        for day, path in zip(days, (good_file, files[0], good_file), strict=True):
            shutil.copyfile(path, landing / path.name.replace(DAY.isoformat(), day.isoformat()))
        contract = contracts[source]
        root = tmp_path / case["case"]
        con = connect_collector(threads=1)
        batched = dict(zip(days, _collect_days(contract, days, root / "landing", root / "batched", con)))
        for day in days:
            alone = collect_partition(contract, day, root / "landing", root / "alone", con=con)
            _same_result(batched[day], alone)
            for kind in ("raw", "quarantine"):
                ours = _rows(partition_path(root / "batched" / kind, source, day))
                theirs = _rows(partition_path(root / "alone" / kind, source, day))
                assert ours == theirs, (case["case"], day, kind)
        con.close()
        compared += 1
    assert compared >= 20
