"""A process holding the warehouse file open makes a writer wait, not fail at once; one that keeps
it open too long gets a message naming it. Real processes."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb
import pytest

from core.storage.warehouse import WarehouseLocked, connect

READER = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); time.sleep(float(sys.argv[2]))"


def _reader(path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", READER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    return proc


def test_a_writer_waits_for_a_reader_that_lets_go(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).execute("create table t as select 1 as x").close()
    reader = _reader(path, 2)
    started = time.monotonic()
    with connect(path, lock_wait=30) as con:
        con.execute("insert into t values (2)")
        assert con.execute("select count(*) from t").fetchall()[0][0] == 2
    assert time.monotonic() - started >= 1, "the writer waited for the reader"
    reader.wait(timeout=30)


def test_a_reader_that_keeps_the_file_is_named(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    reader = _reader(path, 60)
    try:
        with pytest.raises(WarehouseLocked, match=rf"PID {reader.pid}\).*serving snapshot"):
            connect(path, lock_wait=1.5)
    finally:
        reader.kill()
        reader.wait(timeout=30)
