"""The SQL that reads a landing file's records and types and validates every value.

Validation is vectorised in DuckDB: the files are read as text, and every contract rule is one SQL
expression over the cleaned (`v_<col>`) and typed (`t_<col>`) values of a record.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.collection.contracts import WHITESPACE, Column, Contract
from core.storage.sql import lit, q


def clean(expr: str, tokens: tuple[str, ...]) -> str:
    """A value with null tokens turned into NULL and surrounding blanks trimmed.

    Comparing and trimming every value is costly, so both happen only on the slow path: values no
    longer (in bytes) than the longest null token, or that start or end with a space (the only
    character DuckDB's trim removes). Every other value is passed through as it is.
    """
    token_list = ", ".join(lit(t) for t in tokens) or "''"
    longest = max((len(t.encode()) for t in tokens), default=0)
    slow = f"(strlen({expr}) <= {longest} or starts_with({expr}, ' ') or ends_with({expr}, ' '))"
    return (
        f"case when {slow} then (case when {expr} in ({token_list}) or trim({expr}) in ({token_list}) "
        f"then null else trim({expr}) end) else {expr} end"
    )


# Numbers are written in plain decimal notation, or they are not numbers: DuckDB's own casts would
# read '0x10' as 16, '1e3' and '1_000' as 1000, round '1.5' to 2 and '12.345' to 12.35, silently.
INTEGER_TEXT = r"[+-]?[0-9]+(\.0*)?"  # an integral value; '12345.0' (a float export of an id) is 12345
DECIMAL_TEXT = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"


FUTURE_SLACK_DAYS = 1  # how far after the export's day a business time may lie

# A bare NaN or Infinity in a value position (after ':', '[' or ','), which is not JSON.
BARE_NON_NUMBER = r"[:\[,]\s*-?(NaN|Infinity)\s*[,}\]]"


def is_identifier(col: Column) -> bool:
    """A text column that holds ids (`*_id`): spreadsheet exports write numeric ids as floats."""
    return col.type == "string" and col.name.endswith("_id")


def integral_id(expr: str) -> str:
    """An id written as an integral float (`12345.0`, `12345.00`) as the integer text `12345`;
    every other id as it is (`00123`, `A-17`, `1.5` keep their text)."""
    return (
        f"(case when contains({expr}, '.') and regexp_full_match({expr}, '[0-9]+\\.0+') "
        f"then split_part({expr}, '.', 1) else {expr} end)"
    )


def fraction_digits(v: str) -> str:
    """Significant digits after the decimal point of a plain number (trailing zeros do not count)."""
    return f"length(rtrim(split_part({v}, '.', 2), '0'))"


def typed(col: Column, v: str, contract: Contract) -> str:
    """The SQL giving the column's typed value, or NULL when the text is not exactly such a value."""
    m = contract.mapping
    if col.type == "string":
        return v
    if col.type == "integer":
        return f"(case when regexp_full_match({v}, {lit(INTEGER_TEXT)}) then try_cast(split_part({v}, '.', 1) as BIGINT) end)"
    if col.type == "decimal":
        return (
            f"(case when regexp_full_match({v}, {lit(DECIMAL_TEXT)}) and {fraction_digits(v)} <= {col.scale} "
            f"then try_cast({v} as {col.sql_type}) end)"
        )
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


def rules(col: Column, v: str, t: str, contract: Contract, day: str) -> list[tuple[str, str]]:
    """(condition that fails the row, reason) pairs, in the order they are reported.

    `day` is the SQL of the record's export day (a DATE): a literal for one day, or the column
    holding each record's day when several days are judged in one statement."""
    rules: list[tuple[str, str]] = []
    if col.required:
        rules.append((f"{v} is null", f"missing_required:{col.name}"))
    if col.required_unless is not None:
        rules.append((f"{v} is null and {q('v_' + col.required_unless)} is null", f"missing_required:{col.name}"))
    # A number the column's type cannot hold exactly has its own reason, before the generic one.
    if col.type == "integer":
        inexact = f"{v} is not null and {t} is null and regexp_full_match({v}, {lit(DECIMAL_TEXT)})"
        rules.append((inexact, f"inexact_integer:{col.name}"))
    if col.type == "decimal":
        too_fine = (
            f"{v} is not null and {t} is null and regexp_full_match({v}, {lit(DECIMAL_TEXT)}) "
            f"and {fraction_digits(v)} > {col.scale}"
        )
        rules.append((too_fine, f"decimal_scale:{col.name}"))
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
        lo = f"CAST({day} - {int(contract.allowed_lateness_days)} AS TIMESTAMP)"
        hi = f"CAST({day} + 1 AS TIMESTAMP)"
        rules.append((f"{t} < {lo} or {t} >= {hi}", f"outside_window:{col.name}"))
    elif col.type in {"timestamp", "date"}:
        # No business time lies after the export's day: an order placed in 2099 is a typo, not data.
        # One day of slack for clocks and time zones.
        latest = f"({day} + {FUTURE_SLACK_DAYS + 1})"
        bound = f"CAST({latest} AS TIMESTAMP)" if col.type == "timestamp" else latest
        rules.append((f"{t} >= {bound}", f"in_future:{col.name}"))
    return rules


def derived_field(contract: Contract, column: str, file_name: str, record: str, value_of) -> str | None:
    """The SQL of a column the export does not have but the mapping derives: a constant, or a key
    made of the file name (`file_name`: SQL giving it) and the record number, or a hash of chosen
    export columns."""
    m = contract.mapping
    if column in m.derived_keys:
        rule = m.derived_keys[column]
        if rule == "record":
            return f"({file_name} || ':' || cast({record} as varchar))"
        parts = ", ".join(f"coalesce({value_of(m.export_name(c))}, '')" for c in rule["hash"])
        return f"md5(concat_ws(chr(31), {parts}))"
    if column in m.constants:
        return lit(m.constants[column])
    return None


def read_sql(
    path: Path, contract: Contract, header: list[str] | None, file_id: int, file_name: str | None = None
) -> tuple[str, str, str, str]:
    """For a file read on its own (see groupable: a blank-separated report or a JSON document):
    SQL loading it into a temp table, SQL selecting its records, SQL selecting each record's
    original text (joined in for quarantined rows only), and the name of its rejects table.

    The file is loaded in order into ``src_<file_id>``; the table's rowid is then the record's
    ordinal in the file, so no order-preserving window is needed to number records.
    """
    m = contract.mapping
    rejects, table = f"rejects_{file_id}", f"src_{file_id}"
    if m.format == "csv":
        assert header is not None and m.delimiter == WHITESPACE
        return _blank_separated_sql(path, contract, header, file_id, file_name or path.name, table) + (rejects,)
    # Pretty-printed objects or one JSON array: each object (or array element) is a record, its
    # original text kept; DuckDB splits them.
    load = (
        f"CREATE TEMP TABLE {table} AS select cast(json as VARCHAR) as line "
        f"from read_json_objects({lit(path)}, format='auto')"
    )
    select = _json_lines_select(contract, f"select line, {file_id} as file_id, rowid + 1 as record_number from {table}")
    raw_select = f"select {file_id} as file_id, rowid + 1 as record_number, line as raw_record from {table}"
    return load, select, raw_select, rejects


def _json_lines_select(contract: Contract, lines: str) -> str:
    """The records of JSON lines: `lines` selects each line's text (`line`), `file_id` and `record_number`."""
    m = contract.mapping
    # A record is a line holding one JSON object. Each line is checked once (json_valid; a line
    # starting with '{' that is valid JSON is an object, so json_type runs only for the odd rest),
    # then every contract column is taken in one parse with from_json into a struct of VARCHARs.
    # Numbers, booleans, arrays and objects arrive as their JSON text; absent keys and JSON null
    # as NULL; key matching is exact (case-sensitive). DuckDB's parser accepts bare NaN and
    # Infinity, which JSON does not have: such a line is malformed (found only on lines that
    # contain the words at all, so the regular expression runs on almost none).
    struct = "{" + ", ".join(f'{json_key(m.export_name(c.name))}: "VARCHAR"' for c in contract.columns) + "}"
    fields = ", ".join(f"rec[{lit(m.export_name(c.name))}] as {q('x_' + c.name)}" for c in contract.columns)
    # An object that repeats a key (DuckDB would keep the first silently) is a `duplicate_key`
    # record; one whose key differs from a contract key only by full-width characters or
    # zero-width marks (`ｅvent_id`, `session\u200b_id`) is an `ambiguous_key` record: neither is
    # guessed. Keys are listed once per object; the look-alike test runs only on lines holding
    # non-ASCII text (byte length above character length).
    exports = ", ".join(lit(m.export_name(c.name)) for c in contract.columns)
    look_alike = (
        f"len(list_filter(keys, lambda k: k not in ({exports}) and "
        f"translate(k, {lit(LOOK_ALIKE_FROM)}, {lit(LOOK_ALIKE_TO)}) in ({exports}))) > 0"
    )
    select = (
        f"select file_id, record_number, {fields}, ok, problem from ("
        f"select file_id, record_number, ok, problem, "
        f"from_json(case when ok and problem is null then line else '{{}}' end, {lit(struct)}) as rec from ("
        f"select file_id, record_number, ok, line, case when not ok then NULL "
        f"when len(keys) <> len(list_distinct(keys)) then 'duplicate_key' "
        f"when strlen(line) <> length(line) and {look_alike} then 'ambiguous_key' end as problem from ("
        f"select file_id, record_number, ok, line, case when ok then json_keys(line) end as keys from ("
        f"select line, file_id, record_number, "
        f"case when not json_valid(line) then false "
        f"when (strpos(line, 'NaN') > 0 or strpos(line, 'Infinity') > 0) "
        f"and regexp_matches(line, {lit(BARE_NON_NUMBER)}) then false "
        f"when ascii(line) = 123 then true "
        f"else json_type(line) = 'OBJECT' end as ok from ({lines})))))"
    )
    return select


# The columns a group load (group_load_sql) adds to the loaded table, and the numbered relation
# over it (numbered_sql) to each record: unlikely to clash with an export's own column names.
FILE_PATH, FILE_ID, FILE_NAME, RECORD = "__dmp_path", "__dmp_file_id", "__dmp_file_name", "__dmp_record"


def groupable(path: Path, contract: Contract) -> bool:
    """Whether files like this one are read several at once by one statement (group_load_sql):
    delimited CSV and JSON Lines; blank-separated reports and JSON documents are read one by one."""
    m = contract.mapping
    if m.format == "csv":
        return m.delimiter != WHITESPACE
    return not is_json_document(path)


def group_load_sql(paths: list[Path], contract: Contract, header: list[str] | None, table: str, rejects: str) -> str:
    """SQL loading files (CSV sharing one header, or JSON Lines) in order into one temp table, each
    row with its file's path (FILE_PATH): DuckDB keeps the files' order and each file's line order
    (the collector preserves insertion order), so each file's rows are one run of rowids in it."""
    m = contract.mapping
    files = "[" + ", ".join(lit(p) for p in paths) + "]"
    if m.format == "csv":
        assert header is not None
        cols = "{" + ", ".join(f"{lit(h)}: 'VARCHAR'" for h in header) + "}"
        return (
            f"CREATE TEMP TABLE {table} AS select * from read_csv({files}, columns={cols}, header=true, "
            f"auto_detect=false, delim={lit(m.delimiter)}, quote={lit(m.quote)}, escape={lit(m.quote)}, "
            f"store_rejects=true, rejects_table={lit(rejects)}, rejects_scan={lit(rejects + '_scan')}, "
            f"max_line_size=1048576, filename={lit(FILE_PATH)})"
        )
    return (
        f"CREATE TEMP TABLE {table} AS select * from read_csv({files}, columns={{'line': 'VARCHAR'}}, "
        f"header=false, auto_detect=false, delim='\\0', quote='', escape='', max_line_size=1048576, "
        f"filename={lit(FILE_PATH)}) where line is not null and not (ascii(line) <= 32 and trim(line) = '')"
    )


def numbered_sql(table: str, files: list[tuple[Path, int, str, int]]) -> str:
    """The loaded group's rows with their file id (FILE_ID), landing file name (FILE_NAME) and record
    number within the file (RECORD), from each file's (path read, file id, name, first rowid)."""
    values = ", ".join(f"({lit(p)}, {fid}, {lit(name)}, {first})" for p, fid, name, first in files)
    return (
        f"(select f.{FILE_ID}, f.{FILE_NAME}, s.rowid - f.first_row + 1 as {RECORD}, s.* exclude ({FILE_PATH}) "
        f"from {table} s join (values {values}) f({FILE_PATH}, {FILE_ID}, {FILE_NAME}, first_row) "
        f"using ({FILE_PATH}))"
    )


def group_records_sql(contract: Contract, header: list[str] | None, numbered: str) -> tuple[str, str]:
    """For the rows of a group load (numbered_sql): the SQL selecting its records and the SQL
    selecting each record's original text, as read_sql gives them for one file."""
    m = contract.mapping
    if m.format == "csv":
        assert header is not None
        present = set(header)
        fields = []
        for c in contract.columns:
            name = m.export_name(c.name)
            derived = derived_field(contract, c.name, FILE_NAME, RECORD, q)
            if name in present and c.name not in m.derived_keys:
                expr = q(name)
            else:
                expr = derived or "NULL::VARCHAR"
            fields.append(f"{expr} as {q('x_' + c.name)}")
        raw = "concat_ws(" + lit(m.delimiter) + ", " + ", ".join(f"coalesce({q(h)}, '')" for h in header) + ")"
        select = (
            f"select {FILE_ID} as file_id, {RECORD} as record_number, {', '.join(fields)}, true as ok, "
            f"NULL::VARCHAR as problem from {numbered}"
        )
        return select, f"select {FILE_ID} as file_id, {RECORD} as record_number, {raw} as raw_record from {numbered}"
    select = _json_lines_select(
        contract, f"select line, {FILE_ID} as file_id, {RECORD} as record_number from {numbered}"
    )
    return select, f"select {FILE_ID} as file_id, {RECORD} as record_number, line as raw_record from {numbered}"


def _lines_table(path: Path, table: str) -> str:
    """SQL loading a file's non-blank lines, in order, one VARCHAR per line (no quoting, no splitting)."""
    # Blank lines are skipped; only lines that start with a blank character need the trim.
    return (
        f"CREATE TEMP TABLE {table} AS select line from read_csv({lit(path)}, columns={{'line': 'VARCHAR'}}, "
        f"header=false, auto_detect=false, delim='\\0', quote='', escape='', max_line_size=1048576) "
        f"where line is not null and not (ascii(line) <= 32 and trim(line) = '')"
    )


def _blank_separated_sql(
    path: Path, contract: Contract, header: list[str], file_id: int, file_name: str, table: str
) -> tuple[str, str, str]:
    """Fields separated by runs of blanks (spaces or tabs), leading and trailing blanks ignored: the
    fixed-width reports of older systems (e.g. the CDNOW purchase log). The first line is the header;
    a line with another number of fields than the header is malformed. The original line is kept."""
    m = contract.mapping
    position = {h: i + 1 for i, h in enumerate(header)}
    fields = []
    for c in contract.columns:
        name = m.export_name(c.name)
        derived = derived_field(contract, c.name, lit(file_name), "record_number", lambda h: f"parts[{position[h]}]")
        if name in position and c.name not in m.derived_keys:
            expr = f"parts[{position[name]}]"
        else:
            expr = derived or "NULL::VARCHAR"
        fields.append(f"{expr} as {q('x_' + c.name)}")
    # rowid 0 is the header line, so rowid is the record number of a data line.
    select = (
        f"select {file_id} as file_id, record_number, {', '.join(fields)}, len(parts) = {len(header)} as ok, "
        f"NULL::VARCHAR as problem from ("
        f"select rowid as record_number, regexp_split_to_array(trim(line, ' \t'), '[ \t]+') as parts "
        f"from {table} where rowid > 0)"
    )
    raw_select = f"select {file_id} as file_id, rowid as record_number, line as raw_record from {table} where rowid > 0"
    return _lines_table(path, table), select, raw_select


# Full-width ASCII (U+FF01..U+FF5E) read as ASCII, zero-width marks dropped: how a JSON key that
# only looks like a contract key is recognised (header names are normalised the same way).
LOOK_ALIKE_FROM = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u200b\u200c\u200d\u2060\ufeff"
LOOK_ALIKE_TO = "".join(chr(c) for c in range(0x21, 0x7F))


def is_json_document(path: Path) -> bool:
    """Whether a JSON export is one document (an array, or objects spread over several lines)
    rather than JSON Lines: it starts with `[`, or its first non-blank line is a lone `{`."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    text = head.lstrip()
    return text.startswith(b"[") or text.split(b"\n", 1)[0].strip() == b"{"


def json_key(name: str) -> str:
    """A JSON string literal for a key name."""
    return json.dumps(name, ensure_ascii=False)
