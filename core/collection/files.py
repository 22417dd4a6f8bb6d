"""File-level checks of a landing file, before any of its rows is read.

A file that cannot be collected at all (empty, truncated, undecodable, the wrong delimiter,
required columns missing) raises :class:`FileProblem` naming the file, the problem and the fix;
nothing of its partition is written, so the partition that was there stays intact.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import os
import shutil
import unicodedata
import zlib
from pathlib import Path

from core.collection.contracts import WHITESPACE, Contract, Mapping

OTHER_DELIMITERS = [",", ";", "\t", "|"]


class FileProblem(RuntimeError):
    """A landing file cannot be collected at all. Nothing of its partition is written."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path, self.problem, self.fix = path, problem, fix
        super().__init__(f"{path}: {problem}. Fix: {fix}")


class MissingSource(RuntimeError):
    """A required source has no file for the day."""


def find_files(landing: Path, contract: Contract, day: dt.date) -> list[Path]:
    """The day's export files: names matching mapping.file_glob, and gzip-compressed ones (the same
    name with `.gz` appended)."""
    folder = landing / contract.source
    if not folder.is_dir():
        return []
    pattern = contract.mapping.day_glob(day)
    matches = {*folder.glob(pattern), *folder.glob(pattern + ".gz")}
    return sorted(p for p in matches if p.is_file())


GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 1 << 16  # how much of a file's start is looked at for binary content


ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def header_name(name: str) -> str:
    """A column name as exports mean it: Unicode-normalised (NFKC: a full-width `ｑｕａｎｔｉｔｙ` or `１`
    is plain ASCII), without zero-width characters, trimmed."""
    return unicodedata.normalize("NFKC", name).translate(ZERO_WIDTH).strip()


def header_fields(line: str, mapping: Mapping) -> list[str]:
    """The column names of a CSV header line, split as the mapping says and normalised."""
    if mapping.delimiter == WHITESPACE:
        fields = line.split()
    else:
        fields = next(csv.reader(io.StringIO(line), delimiter=mapping.delimiter, quotechar=mapping.quote), [])
    return [header_name(h) for h in fields]


def open_text(path: Path, encoding: str):
    """A landing file opened as text, decompressed if it is gzip; a UTF-8 BOM is dropped by header_name."""
    with path.open("rb") as fh:
        gz = fh.read(2) == GZIP_MAGIC
    return (gzip.open if gz else open)(path, "rt", encoding=encoding, errors="replace", newline="")


def one_file_per_day(files: list[Path], contract: Contract, day: dt.date) -> None:
    """More than one file for a day is ambiguous (a stray copy would be read as duplicates)
    unless the mapping says the export writes several files a day."""
    if len(files) > 1 and not contract.mapping.multiple_files:
        names = ", ".join(p.name for p in files[:10]) + (" ..." if len(files) > 10 else "")
        raise FileProblem(
            files[0].parent,
            f"{len(files)} files match {contract.mapping.day_glob(day)!r} for {day}: {names}",
            "keep one export per day in the landing zone (move copies elsewhere), or set "
            "mapping.multiple_files: true if the export really writes several files a day",
        )


def _decompress(path: Path, workdir: Path) -> Path:
    """A gzip-compressed export, decompressed into the work directory."""
    target = workdir / (path.name + ".unzipped")
    try:
        with gzip.open(path, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileProblem(
            path,
            f"the file is gzip-compressed but cannot be decompressed ({type(exc).__name__})",
            "the file is damaged or cut short; re-export or re-copy it",
        ) from None
    return target


def _without_bom(path: Path, workdir: Path) -> Path:
    """The file without its UTF-8 byte-order mark (a copy; only files that start with one)."""
    target = workdir / (path.name + ".nobom")
    with path.open("rb") as src, target.open("wb") as dst:
        src.seek(len(BOM))
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def check_file(path: Path, contract: Contract, workdir: Path) -> tuple[Path, list[str] | None]:
    """Check the file as a whole; return a UTF-8 readable path and (for CSV) its header.

    A gzip-compressed file is decompressed first and a UTF-8 byte-order mark removed; what the
    checks below name is the landing file (`path`)."""
    return _check_text(path, _readable_bytes(path, workdir), contract, workdir)


def _readable_bytes(path: Path, workdir: Path) -> Path:
    with path.open("rb") as fh:
        head = fh.read(len(BOM))
    if head[:2] == GZIP_MAGIC:
        path = _decompress(path, workdir)
        with path.open("rb") as fh:
            head = fh.read(len(BOM))
    if head == BOM:
        path = _without_bom(path, workdir)
    return path


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in {"utf-8", "utf8"}


def _check_utf8(original: Path, path: Path) -> None:
    """Raise a file problem at the first byte that is not UTF-8 (streamed; C-speed decoding)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as src:
        try:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                decoder.decode(chunk)
                offset += len(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise FileProblem(
                original,
                f"bytes at offset {offset + exc.start} are not valid utf-8",
                "set mapping.encoding to the export's real encoding (e.g. latin-1, gbk), or re-export as UTF-8",
            ) from None


def _check_text(original: Path, path: Path, contract: Contract, workdir: Path) -> tuple[Path, list[str] | None]:
    m = contract.mapping
    size = path.stat().st_size
    if size == 0:
        raise FileProblem(
            original,
            "the file is empty (0 bytes)",
            "re-export the day; a day without rows still needs the header line (CSV)",
        )
    with path.open("rb") as fh:
        start = fh.read(SNIFF_BYTES)
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
    if b"\x00" in start and _is_utf8(m.encoding):
        raise FileProblem(
            original,
            "the file holds binary data (NUL bytes near its start), not a text export",
            "check that the right file was exported; a UTF-16 export needs mapping.encoding: utf-16",
        )
    if b"\r" in start and b"\n" not in start:
        raise FileProblem(
            original,
            "its lines end with a carriage return only (CR, old Mac style); the platform reads LF or CR LF",
            "re-export with LF or CR LF line endings (or convert them, e.g. `tr '\\r' '\\n'`)",
        )
    if last != b"\n":
        raise FileProblem(
            original,
            "the file is truncated: its last line does not end with a newline",
            "the export or transfer was cut short; re-export or re-copy the file",
        )
    readable = path
    if m.format == "jsonl" and _is_utf8(m.encoding):
        # CSV lines with invalid bytes come back from DuckDB as rejects; JSON lines would not.
        _check_utf8(original, path)
    if not _is_utf8(m.encoding):
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
            raise FileProblem(
                original,
                f"bytes at offset {offset + exc.start} cannot be decoded as {m.encoding}",
                "set mapping.encoding to the export's real encoding, or re-export it",
            ) from None
    header = None
    if m.format == "csv":
        with readable.open("r", encoding="utf-8", errors="replace", newline="") as fh:
            first = fh.readline()
        header = header_fields(first, m)
        wanted = {m.export_name(c.name) for c in contract.columns}
        if len(header) == 1 and len(wanted) > 1 and m.delimiter != WHITESPACE:
            for other in OTHER_DELIMITERS:
                if other != m.delimiter and other in header[0]:
                    raise FileProblem(
                        original,
                        f"the header has one column with {m.delimiter!r} as delimiter but contains "
                        f"{other!r}: the file looks {other!r}-delimited",
                        f"set mapping.delimiter: {other!r} in the mapping for {contract.source}",
                    )
        supplied = set(m.constants) | set(m.derived_keys)
        present = set(header) | {m.export_name(c) for c in supplied}
        missing = [
            m.export_name(c.name) + (f" (or {m.export_name(c.required_unless)})" if c.required_unless else "")
            for c in contract.columns
            if (c.required or c.required_unless)
            and m.export_name(c.name) not in present
            and (c.required_unless is None or m.export_name(c.required_unless) not in present)
        ]
        # The first line is named only by the contract columns it holds: in a file without a header
        # line it is a data row, and its values (e-mails, phones) must not reach a message or a log.
        known = [h for h in header if h in wanted]
        if missing:
            described = (
                f"its {len(header)} column(s) include {known}"
                if known
                else f"none of its {len(header)} field(s) is a contract column: the file may have no header line"
            )
            raise FileProblem(
                original,
                f"required column(s) {missing} are missing from the first line; {described}",
                "add the columns to the export, or map them with mapping.columns (contract column: export column)",
            )
        repeated = sorted({h for h in header if header.count(h) > 1})
        if repeated:
            named = [h for h in repeated if h in wanted]
            raise FileProblem(
                original,
                f"the header repeats {len(repeated)} column name(s)" + (f": {named}" if named else ""),
                "rename the duplicates",
            )
    return readable, header


def has_data_lines(path: Path, fmt: str) -> bool:
    """Whether the file has a non-blank line beyond the header (read from the start only)."""
    with path.open("rb") as fh:
        lines = [line for _, line in zip(range(3), fh) if line.strip()]
    return len(lines) > (1 if fmt == "csv" else 0)
