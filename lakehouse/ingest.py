"""Collect one day of one source: read the landing files, validate every row, split valid from bad.

Validation is vectorised in DuckDB: the files are read as text, every contract rule is one SQL
expression, and the valid and quarantined rows are written as Parquet in two scans of one
temporary table. File-level problems (undecodable bytes, a wrong delimiter, missing required
columns, an empty or truncated file) raise :class:`FileProblem` naming the file, the problem and
the fix, before anything is written, so the partition that was there stays intact.

Every input row ends up in exactly one place, and ``rows_read = rows_loaded + rows_quarantined``
holds per file and per partition.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import os
import shutil
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from lakehouse.contracts import Column, Contract

OTHER_DELIMITERS = [",", ";", "\t", "|"]


class FileProblem(RuntimeError):
    """A landing file cannot be collected at all. Nothing of its partition is written."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path, self.problem, self.fix = path, problem, fix
        super().__init__(f"{path}: {problem}. Fix: {fix}")


class MissingSource(RuntimeError):
    """A required source has no file for the day."""


@dataclass
class FileStats:
    file: str
    bytes: int
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
    raw_path: Path | None = None
    quarantine_path: Path | None = None

    @property
    def quarantine_rate(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


def q(identifier: str) -> str:
    """Quote an SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: object) -> str:
    """An SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def find_files(landing: Path, contract: Contract, day: dt.date) -> list[Path]:
    folder = landing / contract.source
    pattern = contract.mapping.file_glob.replace("{date}", day.isoformat())
    return sorted(p for p in folder.glob(pattern) if p.is_file()) if folder.is_dir() else []


# ------------------------------------------------------------------ file-level checks
def _check_file(path: Path, contract: Contract, workdir: Path) -> tuple[Path, list[str] | None]:
    """Check the file as a whole; return a UTF-8 readable path and (for CSV) its header."""
    m = contract.mapping
    size = path.stat().st_size
    if size == 0:
        raise FileProblem(path, "the file is empty (0 bytes)",
                          "re-export the day; a day without rows still needs the header line (CSV)")
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":
            raise FileProblem(path, "the file is truncated: its last line does not end with a newline",
                              "the export or transfer was cut short; re-export or re-copy the file")
    readable = path
    if m.encoding.lower().replace("_", "-") not in {"utf-8", "utf8"}:
        readable = workdir / (path.name + ".utf8")
        decoder = codecs.getincrementaldecoder(m.encoding)()
        offset = 0
        try:
            with path.open("rb") as src, readable.open("w", encoding="utf-8", newline="") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    dst.write(decoder.decode(chunk))
                    offset += len(chunk)
                dst.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            raise FileProblem(path, f"bytes at offset {offset + exc.start} cannot be decoded as {m.encoding}",
                              "set mapping.encoding to the export's real encoding, or re-export it") from None
    header = None
    if m.format == "csv":
        with readable.open("r", encoding="utf-8", errors="replace", newline="") as fh:
            first = fh.readline()
        header = next(csv.reader(io.StringIO(first), delimiter=m.delimiter, quotechar=m.quote), [])
        header = [h.strip() for h in header]
        wanted = {m.export_name(c.name) for c in contract.columns}
        if len(header) == 1 and len(wanted) > 1:
            for other in OTHER_DELIMITERS:
                if other != m.delimiter and other in header[0]:
                    raise FileProblem(
                        path, f"the header has one column with {m.delimiter!r} as delimiter but contains "
                              f"{other!r}: the file looks {other!r}-delimited",
                        f"set mapping.delimiter: {other!r} in the mapping for {contract.source}")
        missing = [m.export_name(c.name) for c in contract.columns
                   if c.required and m.export_name(c.name) not in header]
        if missing:
            raise FileProblem(path, f"required column(s) {missing} are missing; the header has {header}",
                              "add the columns to the export, or map them with mapping.columns "
                              "(contract column: export column)")
        if len(set(header)) != len(header):
            raise FileProblem(path, f"the header repeats column names: {header}", "rename the duplicates")
    return readable, header


def _has_data_lines(path: Path, fmt: str) -> bool:
    """Whether the file has a non-blank line beyond the header (read from the start only)."""
    with path.open("rb") as fh:
        lines = [line for _, line in zip(range(3), fh) if line.strip()]
    return len(lines) > (1 if fmt == "csv" else 0)


# ------------------------------------------------------------------ SQL building
def _clean(expr: str, tokens: tuple[str, ...]) -> str:
    """A value with null tokens turned into NULL and surrounding blanks trimmed.

    Comparing and trimming every value is costly, so both happen only on the slow path: values no
    longer (in bytes) than the longest null token, or that start or end with a space (the only
    character DuckDB's trim removes). Every other value is passed through as it is.
    """
    token_list = ", ".join(lit(t) for t in tokens) or "''"
    longest = max((len(t.encode()) for t in tokens), default=0)
    slow = f"(strlen({expr}) <= {longest} or starts_with({expr}, ' ') or ends_with({expr}, ' '))"
    return (f"case when {slow} then (case when {expr} in ({token_list}) or trim({expr}) in ({token_list}) "
            f"then null else trim({expr}) end) else {expr} end")


def _typed(col: Column, v: str, contract: Contract) -> str:
    m = contract.mapping
    if col.type == "string":
        return v
    if col.type == "integer":
        return f"try_cast({v} as BIGINT)"
    if col.type == "decimal":
        return f"try_cast({v} as {col.sql_type})"
    if col.type == "boolean":
        t = ", ".join(lit(x) for x in m.true_values)
        f = ", ".join(lit(x) for x in m.false_values)
        return f"(case when lower({v}) in ({t}) then true when lower({v}) in ({f}) then false end)"
    if col.type == "date":
        parts = [f"try_strptime({v}, {lit(fmt)})::DATE" for fmt in m.date_formats]
        return f"coalesce({', '.join(parts)})" if len(parts) > 1 else parts[0]
    parts = []
    for fmt in m.timestamp_formats:
        if "%z" in fmt or "%Z" in fmt:
            parts.append(f"timezone('UTC', try_strptime({v}, {lit(fmt)}))")
        elif m.timezone == "UTC":
            parts.append(f"try_strptime({v}, {lit(fmt)})")
        else:
            parts.append(f"timezone('UTC', timezone({lit(m.timezone)}, try_strptime({v}, {lit(fmt)})))")
    return f"coalesce({', '.join(parts)})" if len(parts) > 1 else parts[0]


def _rules(col: Column, v: str, t: str, contract: Contract, day: dt.date) -> list[tuple[str, str]]:
    """(condition that fails the row, reason) pairs, in the order they are reported."""
    rules: list[tuple[str, str]] = []
    if col.required:
        rules.append((f"{v} is null", f"missing_required:{col.name}"))
    if col.type != "string":
        kind = "invalid_timestamp" if col.type in {"timestamp", "date"} else f"invalid_{col.type}"
        rules.append((f"{v} is not null and {t} is null", f"{kind}:{col.name}"))
    if col.allowed is not None:
        allowed = ", ".join(lit(a) for a in col.allowed)
        rules.append((f"{t} is not null and {t} not in ({allowed})", f"not_allowed:{col.name}"))
    if col.min is not None:
        rules.append((f"{t} < {col.min}", f"out_of_range:{col.name}"))
    if col.max is not None:
        rules.append((f"{t} > {col.max}", f"out_of_range:{col.name}"))
    if col.pattern is not None:
        rules.append((f"{v} is not null and not regexp_full_match({v}, {lit(col.pattern)})", f"pattern:{col.name}"))
    if contract.event_time == col.name:
        lo = dt.datetime.combine(day - dt.timedelta(days=contract.allowed_lateness_days), dt.time())
        hi = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
        rules.append((f"{t} < TIMESTAMP {lit(lo)} or {t} >= TIMESTAMP {lit(hi)}", f"outside_window:{col.name}"))
    return rules


def _read_sql(path: Path, contract: Contract, header: list[str] | None, file_id: int) -> tuple[str, str, str, str]:
    """SQL loading the file into a temp table, SQL selecting its records, SQL selecting each record's
    original text (joined in for quarantined rows only), and the name of the rejects table.

    The file is loaded in order into ``src_<file_id>``; the table's rowid is then the record's
    ordinal in the file, so no order-preserving window is needed to number records.
    """
    m = contract.mapping
    rejects, table = f"rejects_{file_id}", f"src_{file_id}"
    if m.format == "csv":
        assert header is not None
        cols = "{" + ", ".join(f"{lit(h)}: 'VARCHAR'" for h in header) + "}"
        load = (f"CREATE TEMP TABLE {table} AS select * from read_csv({lit(path)}, columns={cols}, header=true, "
                f"auto_detect=false, delim={lit(m.delimiter)}, quote={lit(m.quote)}, escape={lit(m.quote)}, "
                f"store_rejects=true, rejects_table={lit(rejects)}, rejects_scan={lit(rejects + '_scan')}, "
                f"max_line_size=1048576)")
        present = set(header)
        fields = []
        for c in contract.columns:
            name = m.export_name(c.name)
            fields.append(f"{q(name)} as {q('x_' + c.name)}" if name in present else f"NULL::VARCHAR as {q('x_' + c.name)}")
        raw = "concat_ws(" + lit(m.delimiter) + ", " + ", ".join(f"coalesce({q(h)}, '')" for h in header) + ")"
        select = f"select {file_id} as file_id, rowid + 1 as record_number, {', '.join(fields)}, true as ok from {table}"
        raw_select = f"select {file_id} as file_id, rowid + 1 as record_number, {raw} as raw_record from {table}"
        return load, select, raw_select, rejects
    # Blank lines are skipped; only lines that start with a blank character need the trim.
    load = (f"CREATE TEMP TABLE {table} AS select line from read_csv({lit(path)}, columns={{'line': 'VARCHAR'}}, "
            f"header=false, auto_detect=false, delim='\\0', quote='', escape='', max_line_size=1048576) "
            f"where line is not null and not (ascii(line) <= 32 and trim(line) = '')")
    # A record is a line holding one JSON object. Each line is checked once (json_valid; a line
    # starting with '{' that is valid JSON is an object, so json_type runs only for the odd rest),
    # then every contract column is taken in one parse with from_json into a struct of VARCHARs.
    # Numbers, booleans, arrays and objects arrive as their JSON text; absent keys and JSON null
    # as NULL; key matching is exact (case-sensitive).
    struct = "{" + ", ".join(f"{_json_key(m.export_name(c.name))}: \"VARCHAR\"" for c in contract.columns) + "}"
    fields = ", ".join(f"rec[{lit(m.export_name(c.name))}] as {q('x_' + c.name)}" for c in contract.columns)
    select = (f"select {file_id} as file_id, record_number, {fields}, ok from ("
              f"select record_number, ok, from_json(case when ok then line else '{{}}' end, {lit(struct)}) as rec from ("
              f"select line, rowid + 1 as record_number, "
              f"case when not json_valid(line) then false when ascii(line) = 123 then true "
              f"else json_type(line) = 'OBJECT' end as ok from {table}))")
    raw_select = f"select {file_id} as file_id, rowid + 1 as record_number, line as raw_record from {table}"
    return load, select, raw_select, rejects


def _json_key(name: str) -> str:
    """A JSON string literal for a key name."""
    return json.dumps(name, ensure_ascii=False)


# ------------------------------------------------------------------ atomic writes
def _atomic_copy(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        con.execute(f"COPY ({query}) TO {lit(tmp)} (FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def partition_path(root: Path, source: str, day: dt.date) -> Path:
    return root / source / f"dt={day.isoformat()}" / "part-0.parquet"


# ------------------------------------------------------------------ main entry
def connect_collector(memory_limit: str = "1GB", threads: int | None = None,
                      spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
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


def collect_partition(contract: Contract, day: dt.date, landing: Path, lake: Path,
                      memory_limit: str = "1GB", threads: int | None = None,
                      con: duckdb.DuckDBPyConnection | None = None) -> PartitionResult:
    """Collect one source for one day into ``lake/raw`` and ``lake/quarantine``.

    Raises :class:`FileProblem` for an unusable file and :class:`MissingSource` when a required
    source has no file; in both cases the partition's previous contents are left untouched.
    """
    m = contract.mapping
    files = find_files(landing, contract, day)
    if not files and not contract.optional:
        expected = landing / contract.source / m.file_glob.replace("{date}", day.isoformat())
        raise MissingSource(f"no {contract.source} export for {day}: expected a file matching {expected}. "
                            f"{contract.source} is required; export the day, or check mapping.file_glob")
    result = PartitionResult(source=contract.source, day=day)
    raw_target = partition_path(lake / "raw", contract.source, day)
    quarantine_target = partition_path(lake / "quarantine", contract.source, day)
    workdir = Path(tempfile.mkdtemp(prefix=f"collect-{contract.source}-"))
    own = con is None
    if own:
        con = connect_collector(memory_limit, threads, workdir / "spill")
    try:
        selects, raw_selects = [], []
        for i, path in enumerate(files):
            readable, header = _check_file(path, contract, workdir)
            load, sql, raw_sql, rejects = _read_sql(readable, contract, header, i)
            con.execute(load)
            selects.append((path, sql, rejects))
            raw_selects.append(raw_sql)
            result.files.append(FileStats(file=path.name, bytes=path.stat().st_size))

        cols = contract.columns
        # Three layers, each referring to the previous one by column name, so no expression is
        # evaluated twice: v_<col> cleaned text (null tokens, value codes), t_<col> typed values,
        # then the list of failed rules.
        cleaned = {}
        for c in cols:
            expr = _clean(q("x_" + c.name), m.null_tokens)
            codes = m.values.get(c.name)
            if codes:
                cases = " ".join(f"when {lit(k)} then {lit(v)}" for k, v in codes.items())
                expr = f"(case {expr} {cases} else {expr} end)"
            cleaned[c.name] = expr
        value = {c.name: q("v_" + c.name) for c in cols}
        typed = {c.name: _typed(c, value[c.name], contract) for c in cols}
        if m.returns == "status" and contract.returns_negate:
            for name in contract.returns_negate:
                typed[name] = f"(case when {value['status']} = 'returned' then -abs({typed[name]}) else {typed[name]} end)"
        typed_ref = {c.name: q("t_" + c.name) for c in cols}
        rules = [r for c in cols for r in _rules(c, value[c.name], typed_ref[c.name], contract, day)]
        # The first failed rule is the row's reason (a CASE chain stops at the first match); every
        # failed rule is listed in `detail`, computed only for rows that failed.
        first_reason = "case when not ok then 'malformed' " + " ".join(
            f"when {cond} then {lit(reason)}" for cond, reason in rules) + " end"
        all_reasons = "concat_ws('; ', " + ", ".join(f"case when {cond} then {lit(reason)} end"
                                                     for cond, reason in rules) + ")" if rules else "NULL"

        if selects:
            parsed = "(" + " union all ".join(sql for _, sql, _ in selects) + ")"
            if m.format == "jsonl":
                malformed = ("select NULL::INTEGER as file_id, NULL::BIGINT as record_number, NULL::BIGINT as line_number, "
                             "NULL::VARCHAR as raw_record, NULL::VARCHAR as reason, NULL::VARCHAR as detail limit 0")
            else:
                parts = []
                for i, (path, _, rejects) in enumerate(selects):
                    bad = con.execute(f"select count(*) from {rejects} where error_type = 'INVALID ENCODING'").fetchone()[0]
                    if bad:
                        line = con.execute(f"select min(line) from {rejects} where error_type = 'INVALID ENCODING'").fetchone()[0]
                        raise FileProblem(path, f"line {line} (and {bad - 1} more) holds bytes that are not valid "
                                                f"{m.encoding}", "set mapping.encoding to the export's encoding "
                                                                 "(e.g. latin-1, gbk), or re-export as UTF-8")
                    parts.append(f"select {i} as file_id, NULL::BIGINT as record_number, line as line_number, "
                                 f"any_value(csv_line) as raw_record, 'malformed' as reason, "
                                 f"string_agg(DISTINCT error_message, '; ') as detail from {rejects} group by line")
                malformed = " union all ".join(parts)
            con.execute(f"CREATE TEMP TABLE malformed AS {malformed}")
            key = ", ".join(q("t_" + k) for k in contract.key)
            cleaned_cols = ", ".join(f"{cleaned[c.name]} as {q('v_' + c.name)}" for c in cols)
            typed_cols = ", ".join(f"{typed[c.name]} as {q('t_' + c.name)}" for c in cols)
            con.execute(f"""
                CREATE TEMP TABLE checked AS
                with cleaned as (
                    select file_id, record_number, ok, {cleaned_cols} from {parsed}
                ),
                typed as (
                    select *, {typed_cols} from cleaned
                ),
                judged as (
                    select *, {first_reason} as reason from typed
                ),
                explained as (
                    select file_id, record_number, reason, {", ".join(typed_ref.values())},
                           case when reason is not null and ok then {all_reasons} end as all_reasons
                    from judged
                )
                select * from explained
            """)
            # Duplicates: keys that valid rows share (usually few) and the first row holding each.
            # A hash aggregate and a join against that small table cost far less than a window.
            con.execute(f"""
                CREATE TEMP TABLE dups AS
                select {key}, min(file_id * 1000000000000 + record_number) as first_ref
                from checked where reason is null group by {key} having count(*) > 1
            """)
            key_join = " and ".join(f"c.{q('t_' + k)} = d.{q('t_' + k)}" for k in contract.key)
            con.execute(f"""
                CREATE TEMP VIEW classified AS
                select c.*,
                       case when c.reason is null and d.first_ref is not null
                             and c.file_id * 1000000000000 + c.record_number <> d.first_ref
                            then d.first_ref % 1000000000000 end as duplicate_of,
                       c.reason is null and (d.first_ref is null
                             or c.file_id * 1000000000000 + c.record_number = d.first_ref) as is_valid
                from checked c left join dups d on {key_join}
            """)
            raw_union = " union all ".join(raw_selects)
            out_cols = ", ".join(f"{q('t_' + c.name)} as {q(c.name)}" for c in cols)
            files_list = "[" + ", ".join(lit(f.file) for f in result.files) + "]"
            valid_query = (f"select {out_cols}, list_extract({files_list}, file_id + 1) as _source_file, "
                           f"record_number as _record_number from classified where is_valid")
            quarantine_query = f"""
                select list_extract({files_list}, file_id + 1) as source_file, record_number,
                       line_number, reason, nullif(split_part(reason, ':', 2), '') as "column", detail,
                       duplicate_of_record, raw_record
                from (
                    select bad.file_id, bad.record_number, NULL::BIGINT as line_number,
                           coalesce(bad.reason, 'duplicate') as reason,
                           case when bad.all_reasons like '%;%' then bad.all_reasons end as detail,
                           bad.duplicate_of as duplicate_of_record,
                           raw.raw_record
                    from (select file_id, record_number, reason, all_reasons, duplicate_of
                          from classified where not is_valid) as bad
                    left join ({raw_union}) as raw
                      on bad.file_id = raw.file_id and bad.record_number = raw.record_number
                    union all
                    select file_id, record_number, line_number, reason, detail, NULL::BIGINT, raw_record
                    from malformed
                ) order by file_id, coalesce(record_number, 0), line_number
            """
        else:
            out_cols = ", ".join(f"NULL::{c.sql_type} as {q(c.name)}" for c in cols)
            valid_query = f"select {out_cols}, NULL::VARCHAR as _source_file, NULL::BIGINT as _record_number limit 0"
            quarantine_query = ("select NULL::VARCHAR as source_file, NULL::BIGINT as record_number, "
                                "NULL::BIGINT as line_number, NULL::VARCHAR as reason, NULL::VARCHAR as \"column\", "
                                "NULL::VARCHAR as detail, NULL::BIGINT as duplicate_of_record, "
                                "NULL::VARCHAR as raw_record limit 0")

        # Count before writing, so the numbers describe exactly what is written.
        if selects:
            # One scan gives every count: per file, valid or not, by reason.
            groups = con.execute("""
                select file_id, is_valid, coalesce(reason, 'duplicate') as reason, count(*) from classified
                group by all
                union all
                select file_id, false, reason, count(*) from malformed group by all
            """).fetchall()
            reasons: dict[str, int] = {}
            for fid, valid, reason, n in groups:
                if valid:
                    result.files[fid].rows_loaded += n
                else:
                    result.files[fid].rows_quarantined += n
                    reasons[reason] = reasons.get(reason, 0) + n
            result.reasons = dict(sorted(reasons.items()))
            # Rows read are counted from the input side, independently of how they were classified.
            for fid, n in con.execute("select file_id, count(*) from checked group by file_id").fetchall():
                result.files[fid].rows_read += n
            if m.format == "csv":
                for fid, (_, _, rejects) in enumerate(selects):
                    result.files[fid].rows_read += con.execute(
                        f"select count(DISTINCT line) from {rejects}").fetchone()[0]
            for fid, (path, _, _) in enumerate(selects):
                if result.files[fid].rows_read == 0 and _has_data_lines(path, m.format):
                    raise FileProblem(path, "no row could be read although the file has data lines",
                                      "check mapping.delimiter, mapping.quote and the line endings of the export")
        result.rows_loaded = sum(f.rows_loaded for f in result.files)
        result.rows_quarantined = sum(f.rows_quarantined for f in result.files)
        result.rows_read = sum(f.rows_read for f in result.files)
        if result.rows_read != result.rows_loaded + result.rows_quarantined:
            raise RuntimeError(f"{contract.source} {day}: accounting mismatch: read {result.rows_read}, loaded "
                               f"{result.rows_loaded}, quarantined {result.rows_quarantined}")

        _atomic_copy(con, quarantine_query, quarantine_target)
        _atomic_copy(con, valid_query, raw_target)
        result.raw_path, result.quarantine_path = raw_target, quarantine_target
        return result
    finally:
        if own:
            con.close()
        else:
            _drop_temporaries(con)
        shutil.rmtree(workdir, ignore_errors=True)


def collect_partitions(contract: Contract, days: list[dt.date], landing: Path, lake: Path, workers: int = 2,
                       memory_limit: str = "384MB") -> list[tuple[dt.date, PartitionResult | Exception]]:
    """Collect several days of one source, ``workers`` at a time, in day order.

    Each day succeeds or fails on its own: the result for a day is its :class:`PartitionResult`
    or the :class:`FileProblem` / :class:`MissingSource` that stopped it. With more than one
    worker each DuckDB connection uses one thread, so the machine's cores work on different days.
    """

    local = threading.local()
    connections: list[duckdb.DuckDBPyConnection] = []
    lock = threading.Lock()
    spill = Path(tempfile.mkdtemp(prefix=f"collect-{contract.source}-spill-"))

    def one(day: dt.date) -> tuple[dt.date, PartitionResult | Exception]:
        con = getattr(local, "con", None)
        if con is None:  # one connection per worker thread, reused for its days
            con = local.con = connect_collector(memory_limit, 1 if workers > 1 else None, spill)
            with lock:
                connections.append(con)
        try:
            return day, collect_partition(contract, day, landing, lake, con=con)
        except (FileProblem, MissingSource) as exc:
            return day, exc

    try:
        if workers <= 1 or len(days) <= 1:
            return [one(d) for d in days]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, days))
    finally:
        for con in connections:
            con.close()
        shutil.rmtree(spill, ignore_errors=True)
