"""The CSV file of another CRM's export, read once: its header, its rows and their line
numbers, and the delimiter it uses.

Text must be UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one);
anything else gets a message that says how to save it. The delimiter is sniffed among
comma, semicolon and tab (European Excel writes semicolons). Nothing here knows what a
column means: that is the mapping's (`mapping`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from ...domain.errors import ValidationError

MAX_SOURCE_BYTES = 512 * 1024 * 1024
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
PREVIEW_ROWS = 20
MAX_COLUMNS = 500
_SAVE_AS = "save it as \"CSV UTF-8\" and try again"


@dataclass(frozen=True)
class SourceTable:
    """A read CSV file: its header (as written), its non-blank rows, each row's line
    number in the file (the line it starts on), and its delimiter."""

    header: tuple[str, ...]
    rows: list[list[str]]
    lines: list[int]
    delimiter: str

    def preview(self, count: int = PREVIEW_ROWS) -> list[list[str]]:
        """The first rows, for the mapping step's table."""
        return self.rows[:count]

    def column(self, name: str) -> int:
        """The index of the column named `name` (as written in the header)."""
        return self.header.index(name)


def decode(data: bytes) -> str:
    """The file's text: UTF-8 with or without a BOM, or a clear ValidationError."""
    if len(data) > MAX_SOURCE_BYTES:
        raise ValidationError("The CSV file is too large (at most 512 MiB).")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValidationError(f"The file is UTF-16 text, not UTF-8; {_SAVE_AS}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(f"Line {line}: the file is not UTF-8 text (perhaps Windows-1252 "
                              f"or Latin-1); {_SAVE_AS}.") from None
    if "\x00" in text:
        raise ValidationError("The file holds NUL bytes: it is not a CSV text file.")
    return text


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon or tab: the one that splits the header line into the most columns
    outside quotes (comma when none splits it)."""
    first = text.split("\n", 1)[0]
    counts = {d: _count_outside_quotes(first, d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            count += 1
    return count


def read(data: bytes) -> SourceTable:
    """Read a CSV export: header, rows (blank lines skipped) and line numbers. Every
    failure is a ValidationError that says what is wrong and where."""
    text = decode(data)
    if not text.strip():
        raise ValidationError("The CSV file is empty; export the deals again with a header "
                              "line and at least one deal.")
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = tuple(h.strip() for h in next(reader))
        rows: list[list[str]] = []
        lines: list[int] = []
        start = reader.line_num + 1
        for record in reader:
            if any(cell.strip() for cell in record):
                rows.append(record)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ValidationError(f"Line {reader.line_num}: the CSV is malformed ({exc}).") from None
    _check_header(header)
    if not rows:
        raise ValidationError("The CSV file holds a header but no deals.")
    for record, line in zip(rows, lines, strict=True):
        if len(record) != len(header):
            raise ValidationError(f"Line {line}: expected {len(header)} fields, found "
                                  f"{len(record)} (is the delimiter "
                                  f"{DELIMITER_NAMES[delimiter]}?).")
    return SourceTable(header, rows, lines, delimiter)


def _check_header(header: tuple[str, ...]) -> None:
    if len(header) > MAX_COLUMNS:
        raise ValidationError(f"The CSV has {len(header)} columns; at most {MAX_COLUMNS}.")
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        raise ValidationError(f"Column {blank[0]} of the header has no name; name it or "
                              "remove it.")
    seen: set[str] = set()
    for name in header:
        key = name.casefold()
        if key in seen:
            raise ValidationError(f"The header names the column '{name[:60]}' twice; rename "
                                  "one of them.")
        seen.add(key)
