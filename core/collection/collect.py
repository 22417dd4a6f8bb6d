"""Collect one day of one source: read the landing files, validate every row, split valid from bad.

The steps, each in its own module: file-level checks (:mod:`core.collection.files`) reject an
unusable file before anything is written; the records are read and every contract rule evaluated
in DuckDB (:mod:`core.collection.reading`); valid and quarantined rows are counted, then written
as Parquet partitions that replace the old ones atomically (:mod:`core.collection.writing`).

Every input row ends up in exactly one place, and ``rows_read = rows_loaded + rows_quarantined``
holds per file and per partition.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from core.collection.contracts import Contract
from core.collection.files import FileProblem, MissingSource, check_file, find_files, has_data_lines, one_file_per_day
from core.collection.reading import (
    FILE_ID,
    FILE_NAME,
    FILE_PATH,
    RECORD,
    clean,
    group_load_sql,
    group_records_sql,
    groupable,
    integral_id,
    is_identifier,
    numbered_sql,
    read_sql,
    rules,
    typed,
)
from core.collection.writing import (
    atomic_copy,
    atomic_write_bytes,
    copy_partitioned,
    partition_path,
    replace_with,
    same_bytes,
    staging_directory,
)
from core.storage.sql import lit, q

# A record's reference across the files of a day: file_id * FILE_STRIDE + record_number.
FILE_STRIDE = 1000000000000


@dataclass
class FileStats:
    file: str
    bytes: int
    path: Path | None = None  # the landing file
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0


@dataclass
class PartitionResult:
    source: str
    day: dt.date
    files: list[FileStats] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    value_read: float = 0.0  # sum of the rows' values (contract `value`), as far as they parse
    value_quarantined: float = 0.0
    raw_path: Path | None = None
    quarantine_path: Path | None = None


@dataclass
class _StagedFile:
    """A landing file loaded into the collector, alone or with the files around it in one statement.

    `records_sql` and `originals_sql` select the records (and their original text) of every file
    loaded with it, so the same SQL is shared by those files and used once; `fields_sql` selects
    the file's own CSV records as DuckDB split them (record number, then the header's fields)."""

    path: Path  # the landing file (what messages name)
    readable: Path  # what is read: the landing file, or its decompressed / re-encoded copy
    records_sql: str
    originals_sql: str
    rejects: str  # the CSV rejects table of its load ...
    first_id: int  # ... whose DuckDB file_id 0 is this file id
    fields_sql: str = ""


def connect_collector(
    memory_limit: str = "1GB", threads: int | None = None, spill_dir: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection for collection (reusable across partitions)."""
    config = {"memory_limit": memory_limit, "preserve_insertion_order": True}
    if spill_dir is not None:
        config["temp_directory"] = str(spill_dir)
    con = duckdb.connect(config=config)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _drop_temporaries(con: duckdb.DuckDBPyConnection) -> None:
    for (name,) in con.execute("select view_name from duckdb_views() where temporary and not internal").fetchall():
        con.execute(f"DROP VIEW IF EXISTS {q(name)}")
    for (name,) in con.execute("select table_name from duckdb_tables() where temporary and not internal").fetchall():
        con.execute(f"DROP TABLE IF EXISTS {q(name)}")


# ------------------------------------------------------------------ 1. check and stage the files
def _stage_files(
    con: duckdb.DuckDBPyConnection, contract: Contract, files: list[Path], workdir: Path, result: PartitionResult
) -> list[_StagedFile]:
    """Check every file as a whole, then load it into the collector as text: consecutive files that
    read alike (CSV with the same header, or JSON Lines) in one statement."""
    checked = [(path, *check_file(path, contract, workdir)) for path in files]
    staged: list[_StagedFile] = []
    while len(staged) < len(checked):
        i = len(staged)
        path, readable, header = checked[i]
        if not groupable(readable, contract):
            load, records_sql, originals_sql, rejects = read_sql(readable, contract, header, i, path.name)
            try:
                con.execute(load)
            except duckdb.Error as exc:
                raise _unreadable(path, contract, exc) from None
            staged.append(_StagedFile(path, readable, records_sql, originals_sql, rejects, i))
            continue
        j = i + 1
        while j < len(checked) and checked[j][2] == header and groupable(checked[j][1], contract):
            j += 1
        staged += _stage_group(con, contract, checked[i:j], i)
    for path in files:
        result.files.append(FileStats(file=path.name, bytes=path.stat().st_size, path=path))
    return staged


def _data_lines(path: Path) -> int:
    """The lines after the header that DuckDB's CSV reader does not skip (it skips empty ones)."""
    return sum(1 for line in path.read_bytes().split(b"\n") if line not in (b"", b"\r")) - 1


def _every_line_read(
    con: duckdb.DuckDBPyConnection, group: list[tuple[Path, Path, list[str] | None]], table: str, rejects: str
) -> bool:
    """Whether a multi-file CSV read accounts for every data line of every file: its rows plus its
    rejected lines (an unterminated quote's swallowed lines counted one by one, as _stage_malformed
    splits them) equal the file's lines.

    DuckDB's reading of one file is what the hostile corpus holds the collector to; reading
    several in one statement is not the same: there, a file's unterminated quote can swallow the
    rest of the file without any rejected line being recorded, and the lines vanish. A group whose
    count does not add up (or whose records legitimately span lines, quoted line breaks) is read
    again file by file."""
    rows = dict(con.execute(f"select {FILE_PATH}, count(*) from {table} group by all").fetchall())
    rejected = dict(
        con.execute(f"""
            select file_id, sum(lines) from (
                select file_id, line,
                       case when bool_or(error_message ilike '%unterminated quote%')
                                 and contains(any_value(csv_line), chr(10))
                            then len(string_split(rtrim(any_value(csv_line), chr(13) || chr(10)), chr(10)))
                            else 1 end as lines
                from {rejects} group by file_id, line
            ) group by all
        """).fetchall()
    )
    return all(
        rows.get(str(readable), 0) + rejected.get(k, 0) == _data_lines(readable)
        for k, (_, readable, _) in enumerate(group)
    )


class _ReadAlone(Exception):
    """Files read together are to be read one by one."""


def _stage_group(
    con: duckdb.DuckDBPyConnection, contract: Contract, group: list[tuple[Path, Path, list[str] | None]], first: int
) -> list[_StagedFile]:
    """Load files that read alike (file ids `first`, `first` + 1, ...) with one statement. If the
    statement fails, each file is loaded on its own, so the error names the file that caused it."""
    table, rejects = f"src_{first}", f"rejects_{first}"
    header = group[0][2]
    try:
        con.execute(group_load_sql([readable for _, readable, _ in group], contract, header, table, rejects))
        if len(group) > 1 and contract.mapping.format == "csv" and not _every_line_read(con, group, table, rejects):
            raise _ReadAlone
    except (duckdb.Error, _ReadAlone) as exc:
        for name in (table, rejects, rejects + "_scan"):
            con.execute(f"DROP TABLE IF EXISTS {q(name)}")
        if len(group) == 1:
            raise _unreadable(group[0][0], contract, exc) from None
        return [f for k, one in enumerate(group) for f in _stage_group(con, contract, [one], first + k)]
    if len(group) == 1:
        path = group[0][0]
        numbered = (
            f"(select {first} as {FILE_ID}, {lit(path.name)} as {FILE_NAME}, rowid + 1 as {RECORD}, "
            f"* exclude ({FILE_PATH}) from {table})"
        )
    else:
        firsts = dict(con.execute(f"select {FILE_PATH}, min(rowid) from {table} group by all").fetchall())
        numbered = numbered_sql(
            table,
            [
                (readable, first + k, path.name, firsts.get(str(readable), 0))
                for k, (path, readable, _) in enumerate(group)
            ],
        )
    records_sql, originals_sql = group_records_sql(contract, header, numbered)
    return [
        _StagedFile(
            path,
            readable,
            records_sql,
            originals_sql,
            rejects,
            first,
            f"select {RECORD} as record_number, * exclude ({FILE_ID}, {FILE_NAME}, {RECORD}) "
            f"from {numbered} where {FILE_ID} = {first + k}",
        )
        for k, (path, readable, _) in enumerate(group)
    ]


def _unreadable(path: Path, contract: Contract, exc: duckdb.Error) -> FileProblem:
    """A file DuckDB could not read as a whole, as a file problem of its day. DuckDB's own message
    is not repeated: it quotes the offending line, which may hold personal data."""
    text = str(exc).lower()
    if "maximum line size" in text or "line size" in text:
        problem = "a line is longer than 1 MiB"
        fix = "check the export for a missing line break or an unclosed quote; split huge fields"
    elif "unicode" in text or "utf-8" in text or "encoding" in text:
        problem = f"it holds bytes that are not valid {contract.mapping.encoding}"
        fix = "set mapping.encoding to the export's real encoding (e.g. latin-1, gbk), or re-export as UTF-8"
    else:
        problem = f"DuckDB cannot read it as {contract.mapping.format} ({type(exc).__name__})"
        fix = "check mapping.format, mapping.delimiter and mapping.quote against the export"
    return FileProblem(path, problem, fix)


def _stage_malformed(con: duckdb.DuckDBPyConnection, contract: Contract, staged: list[_StagedFile]) -> None:
    """`malformed`: the CSV lines DuckDB could not split into the header's columns (JSON lines have none
    here: a line that is not an object is judged with the records). Undecodable bytes are a file problem."""
    m = contract.mapping
    if m.reads_lines:
        malformed = (
            "select NULL::INTEGER as file_id, NULL::BIGINT as record_number, NULL::BIGINT as line_number, "
            "NULL::VARCHAR as raw_record, NULL::VARCHAR as reason, NULL::VARCHAR as detail limit 0"
        )
    else:
        loads = {f.rejects: f.first_id for f in staged}  # each load's rejects table and first file id
        for rejects, first in loads.items():
            encoding = con.execute(
                f"select file_id, count(*), min(line) from {rejects} where error_type = 'INVALID ENCODING' "
                "group by all order by file_id limit 1"
            ).fetchall()
            if encoding:
                ((fid, bad, line),) = encoding
                raise FileProblem(
                    staged[first + fid].path,
                    f"line {line} (and {bad - 1} more) holds bytes that are not valid {m.encoding}",
                    "set mapping.encoding to the export's encoding (e.g. latin-1, gbk), or re-export as UTF-8",
                )
        parts = []
        for rejects, first in loads.items():
            # An unterminated quote makes DuckDB read every following line into one field: those
            # are separate physical records, each quarantined (and counted) on its own line.
            parts.append(f"""
                select cast(file_id + {first} as INTEGER) as file_id, NULL::BIGINT as record_number,
                       cast(line + k - 1 as BIGINT) as line_number,
                       rtrim(part, chr(13)) as raw_record, 'malformed' as reason,
                       case when k = 1 then detail
                            else 'read into the unterminated quote opened on line ' || line end as detail
                from (
                    select file_id, line, detail, unnest(parts) as part, generate_subscripts(parts, 1) as k
                    from (
                        select file_id, line, detail,
                               case when detail ilike '%unterminated quote%' and contains(raw, chr(10))
                                    then string_split(rtrim(raw, chr(13) || chr(10)), chr(10))
                                    else [raw] end as parts
                        from (
                            select file_id, line, any_value(csv_line) as raw,
                                   string_agg(DISTINCT error_message, '; ' ORDER BY error_message) as detail
                            from {rejects} group by file_id, line
                        )
                    )
                )
            """)
        malformed = " union all ".join(parts)
    con.execute(f"CREATE TEMP TABLE malformed AS {malformed}")


# ------------------------------------------------------------------ 2. judge every record
def _status_rules(contract: Contract, status: str) -> str:
    """The status a mapping derives: cancelled where a column matches `cancelled_when`, returned
    where the quantity is negative with `returns: sign` (exports without a status column)."""
    m = contract.mapping
    cases = [
        f"when regexp_matches(coalesce({q('x_' + column)}, ''), {lit(pattern)}) then 'cancelled'"
        for column, pattern in m.cancelled_when.items()
    ]
    if m.returns == "sign" and contract.returns_negate:
        cases.append(f"when starts_with(ltrim({q('x_' + contract.returns_negate[0])}), '-') then 'returned'")
    return f"(case {' '.join(cases)} else {status} end)" if cases else status


def _classify(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    day: dt.date,
    staged: list[_StagedFile],
    file_days: list[dt.date] | None = None,
) -> None:
    """`checked` (every record, typed, with its first failed rule) and `classified` (plus duplicates).

    Three layers, each referring to the previous one by column name, so no expression is evaluated
    twice: v_<col> cleaned text (null tokens, value codes), t_<col> typed values, then the list of
    failed rules. The first failed rule is the row's reason (a CASE chain stops at the first match);
    every failed rule is listed in `detail`, computed only for rows that failed.

    Every record carries its export day (`_day`): `day`, or with `file_days` (several days judged
    in one statement) the day of the record's file. The window rules and duplicates are per day.
    """
    m, cols = contract.mapping, contract.columns
    cleaned = {}
    for c in cols:
        expr = clean(q("x_" + c.name), m.null_tokens)
        codes = m.values.get(c.name)
        if codes:
            cases = " ".join(f"when {lit(k)} then {lit(v)}" for k, v in codes.items())
            expr = f"(case {expr} {cases} else {expr} end)"
        if is_identifier(c):
            expr = integral_id(expr)
        if c.name == "status":
            expr = _status_rules(contract, expr)
        cleaned[c.name] = expr
    value = {c.name: q("v_" + c.name) for c in cols}
    typed_expr = {c.name: typed(c, value[c.name], contract) for c in cols}
    if m.returns == "status" and contract.returns_negate:
        for name in contract.returns_negate:
            typed_expr[name] = (
                f"(case when {value['status']} = 'returned' then -abs({typed_expr[name]}) else {typed_expr[name]} end)"
            )
    typed_ref = {c.name: q("t_" + c.name) for c in cols}
    failed = [r for c in cols for r in rules(c, value[c.name], typed_ref[c.name], contract, "_day")]
    first_reason = (
        "case when not ok then 'malformed' when problem is not null then problem "
        + " ".join(f"when {cond} then {lit(reason)}" for cond, reason in failed)
        + " end"
    )
    all_reasons = (
        "concat_ws('; ', " + ", ".join(f"case when {cond} then {lit(reason)} end" for cond, reason in failed) + ")"
        if failed
        else "NULL"
    )
    parsed = "(" + " union all ".join(dict.fromkeys(f.records_sql for f in staged)) + ")"
    cleaned_cols = ", ".join(f"{cleaned[c.name]} as {q('v_' + c.name)}" for c in cols)
    typed_cols = ", ".join(f"{typed_expr[c.name]} as {q('t_' + c.name)}" for c in cols)
    if m.spans_days:
        parsed = _records_of_the_day(con, contract, day, staged, parsed, cleaned, typed_expr)
    if file_days is None:
        day_sql = f"DATE {lit(day)}"
    else:
        day_sql = "list_extract([" + ", ".join(f"DATE {lit(d)}" for d in file_days) + "], file_id + 1)"
    parsed = f"(select *, {day_sql} as _day from {parsed})"
    con.execute(f"""
        CREATE TEMP TABLE checked AS
        with cleaned as (
            select file_id, record_number, ok, problem, _day, {cleaned_cols} from {parsed}
        ),
        typed as (
            select *, {typed_cols} from cleaned
        ),
        judged as (
            select *, {first_reason} as reason from typed
        ),
        explained as (
            select file_id, record_number, _day, reason, {", ".join(typed_ref.values())},
                   case when reason is not null and ok then {all_reasons} end as all_reasons,
                   {_value_expr(contract)} as _value
            from judged
        )
        select * from explained
    """)
    # Duplicates: keys that valid rows share (usually few) and the first row holding each.
    # A hash aggregate and a join against that small table cost far less than a window.
    key = ", ".join(q("t_" + k) for k in contract.key)
    con.execute(f"""
        CREATE TEMP TABLE dups AS
        select _day, {key}, min(file_id * {FILE_STRIDE} + record_number) as first_ref
        from checked where reason is null group by _day, {key} having count(*) > 1
    """)
    key_join = " and ".join(["c._day = d._day", *(f"c.{q('t_' + k)} = d.{q('t_' + k)}" for k in contract.key)])
    con.execute(f"""
        CREATE TEMP VIEW classified AS
        select c.*,
               case when c.reason is null and d.first_ref is not null
                     and c.file_id * {FILE_STRIDE} + c.record_number <> d.first_ref
                    then d.first_ref % {FILE_STRIDE} end as duplicate_of,
               c.reason is null and (d.first_ref is null
                     or c.file_id * {FILE_STRIDE} + c.record_number = d.first_ref) as is_valid
        from checked c left join dups d on {key_join}
    """)


def _records_of_the_day(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    day: dt.date,
    staged: list[_StagedFile],
    parsed: str,
    cleaned: dict[str, str],
    typed_expr: dict[str, str],
) -> str:
    """A many-day export (file_glob without `{date}`): a table of the day's records only.

    A record belongs to the day its event time falls on (UTC, as the outside_window rule judges
    it). A record whose event time is missing or unreadable, and a line that could not be split
    into fields, cannot be placed by its time: it belongs to its file's first day (the earliest
    event time in the file), where it is quarantined, so every record still lands in exactly one
    partition of the file's range. Only the event time is typed for the whole file; every other
    rule runs on the day's records.
    """
    event = contract.event_time
    v = q("v_" + event)
    query = f"""
        select * exclude ({v}), case when ok then cast({typed_expr[event]} as DATE) end as _day
        from (select *, {cleaned[event]} as {v} from {parsed})
    """
    # A range run collects the same file for every day: the placed records are kept in the
    # collector's connection (not a temporary table) for the next day, keyed by the files' identity
    # (path, size, modification time) and the query, so a changed file or mapping is read afresh.
    identity = [(str(f.path), f.path.stat().st_size, f.path.stat().st_mtime_ns) for f in staged]
    placed = "placed_" + hashlib.sha256(repr((identity, query)).encode()).hexdigest()[:16]
    kept = {name for (name,) in con.execute("select table_name from duckdb_tables() where not temporary").fetchall()}
    if placed not in kept:
        for name in kept:
            if name.startswith("placed_"):
                con.execute(f"DROP TABLE {q(name)}")
        con.execute(f"CREATE TABLE {placed} AS {query}")
    firsts = dict(con.execute(f"select file_id, min(_day) from {placed} group by file_id").fetchall())
    for fid, f in enumerate(staged):
        if firsts.get(fid) is None:
            raise FileProblem(
                f.path,
                f"no record has a readable {event} ({contract.mapping.export_name(event)!r}), which splits a "
                "many-day export into days",
                "check mapping.timestamp_formats (and mapping.columns) against the export",
            )
    home = ", ".join(str(fid) for fid, first in firsts.items() if first == day) or "-1"
    con.execute(f"DELETE FROM malformed WHERE file_id NOT IN ({home})")
    con.execute(f"""
        CREATE TEMP TABLE day_records AS
        select * exclude (_day) from {placed}
        where _day = DATE {lit(day)} or (_day is null and file_id in ({home}))
    """)
    return "day_records"


def _value_expr(contract: Contract) -> str:
    """A row's value estimated from its text (so bad rows have one too), or NULL without `value`."""
    product = (
        "abs(" + " * ".join(f"try_cast({q('v_' + c)} as DOUBLE)" for c in contract.value_columns) + ")"
        if contract.value_columns
        else "NULL::DOUBLE"
    )
    if contract.value_amount is None:
        return product
    return f"coalesce(abs(try_cast({q('v_' + contract.value_amount)} as DOUBLE)), {product})"


# ------------------------------------------------------------------ 3. count, then write
def _count(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    staged: list[_StagedFile],
    result: PartitionResult,
    owners: list[PartitionResult] | None = None,
) -> None:
    """Fill the per-file and partition counts; one scan gives loaded and quarantined by reason.

    `result.files` lists every staged file; `owners` names the partition each file belongs to
    when several days are counted at once (by default all belong to `result`)."""
    owners = owners or [result] * len(staged)
    groups = con.execute("""
        select file_id, is_valid, coalesce(reason, 'duplicate') as reason, count(*) from classified
        group by all
        union all
        select file_id, false, reason, count(*) from malformed group by all
    """).fetchall()
    for fid, valid, reason, n in groups:
        if valid:
            result.files[fid].rows_loaded += n
        else:
            result.files[fid].rows_quarantined += n
            owners[fid].reasons[reason] = owners[fid].reasons.get(reason, 0) + n
    for owner in {id(o): o for o in owners}.values():
        owner.reasons = dict(sorted(owner.reasons.items()))
    values = con.execute(
        "select file_id, coalesce(sum(_value), 0), coalesce(sum(_value) filter (where not is_valid), 0) "
        "from classified group by file_id"
    ).fetchall()
    for fid, value_read, value_quarantined in values:
        owners[fid].value_read += float(value_read)
        owners[fid].value_quarantined += float(value_quarantined)
    # Rows read are counted from the input side, independently of how they were classified.
    for fid, n in con.execute("select file_id, count(*) from checked group by file_id").fetchall():
        result.files[fid].rows_read += n
    if not contract.mapping.reads_lines:
        for fid, n in con.execute("select file_id, count(DISTINCT line_number) from malformed group by all").fetchall():
            result.files[fid].rows_read += n
    # (A day of a many-day export may hold no record at all.)
    for fid, f in enumerate(staged if not contract.mapping.spans_days else []):
        if result.files[fid].rows_read == 0 and has_data_lines(f.readable, contract.mapping.format):
            raise FileProblem(
                f.path,
                "no row could be read although the file has data lines",
                "check mapping.delimiter, mapping.quote and the line endings of the export",
            )


DAY_COLUMN = "__day_of_batch"  # the partition column of a batch's partitioned write (not written)


def _output_queries(
    contract: Contract,
    staged: list[_StagedFile],
    result: PartitionResult,
    day_of_file: list[int] | None = None,
) -> tuple[str, str]:
    """The queries selecting the valid rows (raw lake) and the quarantined rows with their original
    text. With `day_of_file` (a day's number for every staged file, several days judged at once),
    both also carry that number as DAY_COLUMN, for one partitioned write of the days."""
    cols = contract.columns
    if not staged:
        out_cols = ", ".join(f"NULL::{c.sql_type} as {q(c.name)}" for c in cols)
        valid = f"select {out_cols}, NULL::VARCHAR as _source_file, NULL::BIGINT as _record_number limit 0"
        quarantine = (
            "select NULL::VARCHAR as source_file, NULL::BIGINT as record_number, "
            'NULL::BIGINT as line_number, NULL::VARCHAR as reason, NULL::VARCHAR as "column", '
            "NULL::VARCHAR as detail, NULL::BIGINT as duplicate_of_record, "
            "NULL::VARCHAR as raw_record limit 0"
        )
        return valid, quarantine
    originals = " union all ".join(dict.fromkeys(f.originals_sql for f in staged))
    out_cols = ", ".join(f"{q('t_' + c.name)} as {q(c.name)}" for c in cols)
    files_list = "[" + ", ".join(lit(f.file) for f in result.files) + "]"
    day = (
        ""
        if day_of_file is None
        else f", list_extract([{', '.join(str(d) for d in day_of_file)}], file_id + 1) as {DAY_COLUMN}"
    )
    valid = (
        f"select {out_cols}, list_extract({files_list}, file_id + 1) as _source_file, "
        f"record_number as _record_number{day} from classified where is_valid "
        "order by file_id, record_number"
    )
    quarantine = f"""
        select list_extract({files_list}, file_id + 1) as source_file, record_number,
               line_number, reason, nullif(split_part(reason, ':', 2), '') as "column", detail,
               duplicate_of_record, raw_record{day}
        from (
            select bad.file_id, bad.record_number, NULL::BIGINT as line_number,
                   coalesce(bad.reason, 'duplicate') as reason,
                   case when bad.all_reasons like '%;%' then bad.all_reasons end as detail,
                   bad.duplicate_of as duplicate_of_record,
                   coalesce(exact.raw_record, raw.raw_record) as raw_record
            from (select file_id, record_number, reason, all_reasons, duplicate_of
                  from classified where not is_valid) as bad
            left join ({originals}) as raw
              on bad.file_id = raw.file_id and bad.record_number = raw.record_number
            left join exact_originals as exact
              on bad.file_id = exact.file_id and bad.record_number = exact.record_number
            union all
            select file_id, record_number, line_number, reason, detail, NULL::BIGINT, raw_record
            from malformed
        ) order by file_id, coalesce(record_number, 0), line_number
    """
    return valid, quarantine


def _csv_records(path: Path, contract: Contract, wanted: set[int], width: int) -> dict[int, tuple[str, list[str]]]:
    """The original text and fields of the wanted records of a CSV file, numbered as DuckDB
    numbers the rows it parsed (blank lines and lines with another field count are not rows).

    Python's csv reader takes one line at a time from the file, so the lines it consumed for a
    record are that record's text, quoted fields and embedded line breaks included."""
    m = contract.mapping
    out: dict[int, tuple[str, list[str]]] = {}
    consumed: list[str] = []
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:

        def lines():
            for line in fh:
                consumed.append(line)
                yield line

        reader = csv.reader(lines(), delimiter=m.delimiter, quotechar=m.quote, doublequote=True, strict=False)
        next(reader, None)  # the header
        consumed.clear()
        number = 0
        for fields in reader:
            text = "".join(consumed).rstrip("\r\n")
            consumed.clear()
            if not fields or len(fields) != width:
                continue
            number += 1
            if number in wanted:
                out[number] = (text, fields)
                if len(out) == len(wanted):
                    break
    return out


def _exact_originals(con: duckdb.DuckDBPyConnection, contract: Contract, staged: list[_StagedFile]) -> None:
    """`exact_originals`: the quarantined CSV records' original text, byte for byte as the file has
    it (quotes, embedded line breaks), where DuckDB's own reading of the record confirms that it is
    the same record (every field equal); otherwise the fields re-joined stand in. Lines that are
    read as lines (JSON, blank-separated) and malformed lines keep their original text already."""
    con.execute("CREATE TEMP TABLE exact_originals (file_id INTEGER, record_number BIGINT, raw_record VARCHAR)")
    if contract.mapping.reads_lines:
        return
    wanted = con.execute(
        "select file_id, list(record_number) from classified where not is_valid group by file_id"
    ).fetchall()
    for fid, numbers in wanted:
        fields = staged[fid].fields_sql
        width = len(con.execute(f"select * from ({fields}) limit 0").description) - 1
        found = _csv_records(staged[fid].readable, contract, set(numbers), width)
        if not found:
            continue
        parsed = con.execute(
            f"select * from ({fields}) where record_number in ({', '.join(map(str, found))})"
        ).fetchall()
        confirmed = [
            (fid, number, found[number][0])
            for number, *values in parsed
            if [v if v is not None else "" for v in values] == found[number][1]  # DuckDB reads '' as NULL
        ]
        if confirmed:
            con.executemany("INSERT INTO exact_originals VALUES (?, ?, ?)", confirmed)


class PartitionEmptied(FileProblem):
    """A day that had rows would be replaced by an empty partition."""


def _refuse_to_empty(
    con: duckdb.DuckDBPyConnection, contract: Contract, day: dt.date, landing: Path, raw_target: Path
) -> None:
    if not raw_target.exists():
        return
    rows, files = con.execute(
        f"select count(*), list(distinct _source_file order by _source_file) from read_parquet({lit(raw_target)})"
    ).fetchone()
    if rows:
        raise PartitionEmptied(
            landing / contract.source,
            f"{contract.source} {day} holds {rows} row(s) from {files}, but the landing zone now has no "
            "file with rows for that day; the partition was not replaced",
            f"restore the export of {day}, or, if the day really has no rows, re-run with allow_empty "
            f"(run config ops: lake__{contract.source}: config: allow_empty: true) to record it empty",
        )


def _settle(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    result: PartitionResult,
    landing: Path,
    lake: Path,
    allow_empty: bool,
) -> tuple[Path, Path]:
    """Sum a day's file counts and check them, refuse to empty a day that holds rows; the day's
    raw and quarantine partition paths."""
    day = result.day
    result.rows_loaded = sum(f.rows_loaded for f in result.files)
    result.rows_quarantined = sum(f.rows_quarantined for f in result.files)
    result.rows_read = sum(f.rows_read for f in result.files)
    if result.rows_read != result.rows_loaded + result.rows_quarantined:
        raise RuntimeError(
            f"{contract.source} {day}: accounting mismatch: read {result.rows_read}, loaded "
            f"{result.rows_loaded}, quarantined {result.rows_quarantined}"
        )
    raw_target = partition_path(lake / "raw", contract.source, day)
    if result.rows_read == 0 and not allow_empty:
        _refuse_to_empty(con, contract, day, landing, raw_target)
    return raw_target, partition_path(lake / "quarantine", contract.source, day)


def collect_partition(
    contract: Contract,
    day: dt.date,
    landing: Path,
    lake: Path,
    memory_limit: str = "1GB",
    threads: int | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    allow_empty: bool = False,
) -> PartitionResult:
    """Collect one source for one day into ``lake/raw`` and ``lake/quarantine``.

    Raises :class:`FileProblem` for an unusable file and :class:`MissingSource` when a required
    source has no file; in both cases the partition's previous contents are left untouched.
    A day whose raw partition holds rows is not replaced by an empty one (its file vanished, or
    is empty now) unless ``allow_empty`` says so: :class:`PartitionEmptied` instead.
    """
    m = contract.mapping
    files = find_files(landing, contract, day)
    if not files and not contract.optional and not m.is_closed(day):
        expected = landing / contract.source / m.file_glob.replace("{date}", day.isoformat())
        raise MissingSource(
            f"no {contract.source} export for {day}: expected a file matching {expected}. "
            f"{contract.source} is required; export the day, or check mapping.file_glob"
        )
    one_file_per_day(files, contract, day)
    result = PartitionResult(source=contract.source, day=day)
    workdir = Path(tempfile.mkdtemp(prefix=f"collect-{contract.source}-"))
    own = con is None
    if own:
        con = connect_collector(memory_limit, threads, workdir / "spill")
    try:
        staged = _stage_files(con, contract, files, workdir, result)
        if staged:
            _stage_malformed(con, contract, staged)
            _classify(con, contract, day, staged)
            # Count before writing, so the numbers describe exactly what is written.
            _count(con, contract, staged, result)
            _exact_originals(con, contract, staged)
        valid_query, quarantine_query = _output_queries(contract, staged, result)
        raw_target, quarantine_target = _settle(con, contract, result, landing, lake, allow_empty)
        atomic_copy(con, quarantine_query, quarantine_target)
        atomic_copy(con, valid_query, raw_target)
        result.raw_path, result.quarantine_path = raw_target, quarantine_target
        return result
    finally:
        if own:
            con.close()
        else:
            _drop_temporaries(con)
        shutil.rmtree(workdir, ignore_errors=True)


BATCH_DAYS = 31  # days judged in one statement by collect_partitions (a month of daily exports) ...
BATCH_BYTES = 32 * 2**20  # ... as long as their files stay this small together (the batch is held in memory)


def _collect_days(
    contract: Contract,
    days: list[dt.date],
    landing: Path,
    lake: Path,
    con: duckdb.DuckDBPyConnection,
    allow_empty: bool = False,
    found: dict[dt.date, list[Path]] | None = None,
) -> list[PartitionResult]:
    """Collect several days of daily exports at once (`found`: each day's files, if already listed): every file is checked and staged as
    `collect_partition` does, then all the days' records are judged, counted and their originals
    recovered in one statement each (each record carrying its file's day), and each day's
    partitions are written on their own, atomically. The result per day is what
    `collect_partition` gives for that day.

    Raises whatever stops any one day (a file problem, a missing export, a day that would be
    emptied): the caller then collects those days one by one, so each day succeeds or fails alone.
    Nothing is written unless every day of the batch passed its checks.
    """
    m = contract.mapping
    files_of: dict[dt.date, list[Path]] = {}
    for day in days:
        files = found[day] if found is not None else find_files(landing, contract, day)
        if not files and not contract.optional and not m.is_closed(day):
            raise MissingSource(f"no {contract.source} export for {day}")
        one_file_per_day(files, contract, day)
        files_of[day] = files
    every = [path for day in days for path in files_of[day]]
    file_days = [day for day in days for _ in files_of[day]]
    results = {day: PartitionResult(source=contract.source, day=day) for day in days}
    batch = PartitionResult(source=contract.source, day=days[0])
    workdir = Path(tempfile.mkdtemp(prefix=f"collect-{contract.source}-days-"))
    try:
        staged = _stage_files(con, contract, every, workdir, batch)
        owners = [results[day] for day in file_days]
        if staged:
            _stage_malformed(con, contract, staged)
            _classify(con, contract, days[0], staged, file_days=file_days)
            _count(con, contract, staged, batch, owners)
            _exact_originals(con, contract, staged)
        targets = []
        for day, result in results.items():
            result.files = [batch.files[i] for i, d in enumerate(file_days) if d == day]
            targets.append(_settle(con, contract, result, landing, lake, allow_empty))
        _write_days(con, contract, staged, batch, [days.index(d) for d in file_days], targets, lake, workdir)
        for result, (raw_target, quarantine_target) in zip(results.values(), targets, strict=True):
            result.raw_path, result.quarantine_path = raw_target, quarantine_target
        return list(results.values())
    finally:
        _drop_temporaries(con)
        shutil.rmtree(workdir, ignore_errors=True)


def _empty_partitions(con: duckdb.DuckDBPyConnection, contract: Contract, workdir: Path) -> dict[str, bytes]:
    """The bytes of an empty raw and an empty quarantine partition of the source (a day without rows)."""
    valid_query, quarantine_query = _output_queries(contract, [], PartitionResult(contract.source, dt.date.min))
    empty = {}
    for kind, query in (("quarantine", quarantine_query), ("raw", valid_query)):
        atomic_copy(con, query, workdir / f"{kind}.parquet")
        empty[kind] = (workdir / f"{kind}.parquet").read_bytes()
    return empty


def _write_days(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    staged: list[_StagedFile],
    batch: PartitionResult,
    day_of_file: list[int],
    targets: list[tuple[Path, Path]],
    lake: Path,
    workdir: Path,
) -> None:
    """Write several days' raw and quarantine partitions (`targets`, in day order): one partitioned
    COPY per kind into a staging directory beside the partitions, then each day's two files renamed
    into place, quarantine first, day after day, so each day is replaced whole or not at all, as
    with one COPY per day. A day without rows of a kind gets that kind's empty partition file."""
    valid_query, quarantine_query = _output_queries(contract, staged, batch, day_of_file)
    with (
        staging_directory(lake / "quarantine" / contract.source) as quarantine_dir,
        staging_directory(lake / "raw" / contract.source) as raw_dir,
    ):
        written = (
            {
                "quarantine": copy_partitioned(con, quarantine_query, DAY_COLUMN, quarantine_dir),
                "raw": copy_partitioned(con, valid_query, DAY_COLUMN, raw_dir),
            }
            if staged
            else {"quarantine": {}, "raw": {}}
        )
        empty = None
        for number, (raw_target, quarantine_target) in enumerate(targets):
            for kind, target in (("quarantine", quarantine_target), ("raw", raw_target)):
                if number in written[kind]:
                    replace_with(written[kind][number], target)
                else:
                    empty = empty or _empty_partitions(con, contract, workdir)
                    atomic_write_bytes(empty[kind], target)


def _batches(contract: Contract, days: list[dt.date], landing: Path, workers: int) -> list[dict[dt.date, list[Path]]]:
    """Consecutive days to collect together: up to BATCH_DAYS days whose files are at most
    BATCH_BYTES together (a larger day is a batch of its own); a many-day export goes day by day
    (its file is read once per connection anyway). A short range is split among the workers."""
    if contract.mapping.spans_days:
        return [{day: []} for day in days]
    limit = BATCH_DAYS if len(days) >= workers * BATCH_DAYS else max(1, -(-len(days) // workers))
    batches: list[dict[dt.date, list[Path]]] = []
    size = 0
    for day in days:
        files = find_files(landing, contract, day)
        day_bytes = sum(path.stat().st_size for path in files)
        if not batches or len(batches[-1]) >= limit or size + day_bytes > BATCH_BYTES:
            batches.append({})
            size = 0
        batches[-1][day] = files
        size += day_bytes
    return batches


def _has_exports(landing: Path, contract: Contract) -> bool:
    folder = landing / contract.source
    return folder.is_dir() and any(p.is_file() for p in folder.iterdir())


def _collect_absent(
    contract: Contract, days: list[dt.date], landing: Path, lake: Path, allow_empty: bool
) -> list[tuple[dt.date, PartitionResult | Exception]]:
    """An optional source with no export at all (one directory listing): every day gets the empty
    partitions collection would write, copied from one empty file per kind; a day whose files are
    those bytes already is left untouched, and a day that holds rows is refused as usual."""
    workdir = Path(tempfile.mkdtemp(prefix=f"collect-{contract.source}-absent-"))
    con = connect_collector("256MB", 1)
    try:
        empty = _empty_partitions(con, contract, workdir)
        out: list[tuple[dt.date, PartitionResult | Exception]] = []
        for day in days:
            targets = {kind: partition_path(lake / kind, contract.source, day) for kind in empty}
            if not allow_empty and targets["raw"].exists() and not same_bytes(targets["raw"], empty["raw"]):
                try:
                    _refuse_to_empty(con, contract, day, landing, targets["raw"])
                except PartitionEmptied as exc:
                    out.append((day, exc))
                    continue
            for kind in ("quarantine", "raw"):
                if not same_bytes(targets[kind], empty[kind]):
                    atomic_write_bytes(empty[kind], targets[kind])
            result = PartitionResult(
                contract.source, day, raw_path=targets["raw"], quarantine_path=targets["quarantine"]
            )
            out.append((day, result))
        return out
    finally:
        con.close()
        shutil.rmtree(workdir, ignore_errors=True)


def collect_partitions(
    contract: Contract,
    days: list[dt.date],
    landing: Path,
    lake: Path,
    workers: int = 2,
    memory_limit: str = "384MB",
    allow_empty: bool = False,
) -> list[tuple[dt.date, PartitionResult | Exception]]:
    """Collect several days of one source, in day order, a batch of days at a time
    (:func:`_collect_days`: one statement per step for the whole batch), ``workers`` batches at once.

    Each day succeeds or fails on its own: the result for a day is its :class:`PartitionResult`
    or the :class:`FileProblem` / :class:`MissingSource` that stopped it (a batch in which any day
    fails is collected again day by day). With more than one worker each DuckDB connection uses
    one thread, so the machine's cores work on different batches.
    An optional source without any export costs one directory listing and a file copy per day.
    """

    if contract.optional and days and not _has_exports(landing, contract):
        return _collect_absent(contract, days, landing, lake, allow_empty)
    local = threading.local()
    connections: list[duckdb.DuckDBPyConnection] = []
    lock = threading.Lock()
    spill = Path(tempfile.mkdtemp(prefix=f"collect-{contract.source}-spill-"))

    def connection() -> duckdb.DuckDBPyConnection:
        con = getattr(local, "con", None)
        if con is None:  # one connection per worker thread, reused for its days
            con = local.con = connect_collector(memory_limit, 1 if workers > 1 else None, spill)
            with lock:
                connections.append(con)
        return con

    def one(day: dt.date) -> tuple[dt.date, PartitionResult | Exception]:
        try:
            return day, collect_partition(contract, day, landing, lake, con=connection(), allow_empty=allow_empty)
        except (FileProblem, MissingSource) as exc:
            return day, exc

    def some(batch: dict[dt.date, list[Path]]) -> list[tuple[dt.date, PartitionResult | Exception]]:
        """A batch of days at once; if any of its days cannot be collected, each day on its own."""
        if len(batch) == 1:
            return [one(d) for d in batch]
        try:
            collected = _collect_days(contract, list(batch), landing, lake, connection(), allow_empty, batch)
            return list(zip(batch, collected, strict=True))
        except Exception:
            return [one(d) for d in batch]

    batches = _batches(contract, days, landing, workers)
    try:
        if workers <= 1 or len(batches) <= 1:
            return [pair for batch in batches for pair in some(batch)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return [pair for pairs in pool.map(some, batches) for pair in pairs]
    finally:
        for con in connections:
            con.close()
        shutil.rmtree(spill, ignore_errors=True)
