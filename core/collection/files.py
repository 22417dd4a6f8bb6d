"""File-level checks of a landing file, before any of its rows is read.

A file that cannot be collected at all (empty, truncated, undecodable, the wrong delimiter,
required columns missing) raises :class:`FileProblem` naming the file, the problem and the fix;
nothing of its partition is written, so the partition that was there stays intact.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
from pathlib import Path

from core.collection.contracts import Contract

OTHER_DELIMITERS = [",", ";", "\t", "|"]


class FileProblem(RuntimeError):
    """A landing file cannot be collected at all. Nothing of its partition is written."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path, self.problem, self.fix = path, problem, fix
        super().__init__(f"{path}: {problem}. Fix: {fix}")


class MissingSource(RuntimeError):
    """A required source has no file for the day."""


def find_files(landing: Path, contract: Contract, day: dt.date) -> list[Path]:
    folder = landing / contract.source
    pattern = contract.mapping.file_glob.replace("{date}", day.isoformat())
    return sorted(p for p in folder.glob(pattern) if p.is_file()) if folder.is_dir() else []


def check_file(path: Path, contract: Contract, workdir: Path) -> tuple[Path, list[str] | None]:
    """Check the file as a whole; return a UTF-8 readable path and (for CSV) its header."""
    m = contract.mapping
    size = path.stat().st_size
    if size == 0:
        raise FileProblem(
            path,
            "the file is empty (0 bytes)",
            "re-export the day; a day without rows still needs the header line (CSV)",
        )
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) != b"\n":
            raise FileProblem(
                path,
                "the file is truncated: its last line does not end with a newline",
                "the export or transfer was cut short; re-export or re-copy the file",
            )
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
            raise FileProblem(
                path,
                f"bytes at offset {offset + exc.start} cannot be decoded as {m.encoding}",
                "set mapping.encoding to the export's real encoding, or re-export it",
            ) from None
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
                        path,
                        f"the header has one column with {m.delimiter!r} as delimiter but contains "
                        f"{other!r}: the file looks {other!r}-delimited",
                        f"set mapping.delimiter: {other!r} in the mapping for {contract.source}",
                    )
        missing = [
            m.export_name(c.name) for c in contract.columns if c.required and m.export_name(c.name) not in header
        ]
        if missing:
            raise FileProblem(
                path,
                f"required column(s) {missing} are missing; the header has {header}",
                "add the columns to the export, or map them with mapping.columns (contract column: export column)",
            )
        if len(set(header)) != len(header):
            raise FileProblem(path, f"the header repeats column names: {header}", "rename the duplicates")
    return readable, header


def has_data_lines(path: Path, fmt: str) -> bool:
    """Whether the file has a non-blank line beyond the header (read from the start only)."""
    with path.open("rb") as fh:
        lines = [line for _, line in zip(range(3), fh) if line.strip()]
    return len(lines) > (1 if fmt == "csv" else 0)
