"""CSV in and out: what operators bring from spreadsheets and other mailers, and take back.

Reading is forgiving about the file and strict about the addresses. A file
that is not UTF-8 is read as cp1252 (what Excel writes on Windows), then
Latin-1, and the report says so, because a wrong guess shows up as mangled
names rather than as an error. Every rejected row is reported with its line
number and why, so the operator can fix the file instead of guessing.

Writing is :mod:`responsemaster.csv_writer`, the product's one CSV writer
(re-exported here): formula cells are neutralised (CWE-1236), so opening an
export in a spreadsheet never runs what a subscriber typed into a form.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from responsemaster.addresses import InvalidAddress, validate_address
from responsemaster.csv_writer import FORMULA_PREFIXES, csv_chunks, neutralise, write_csv
from responsemaster.store.base import address_key

#: Column names (folded) that hold the address, and the display name.
EMAIL_COLUMNS = ("email", "e-mail", "email address", "e-mail address", "mail", "address", "courriel")
NAME_COLUMNS = ("name", "full name", "display name")
__all__ = ["FORMULA_PREFIXES", "CsvReport", "csv_chunks", "neutralise", "parse_csv", "write_csv"]
#: Tried in order; the first that decodes wins (Latin-1 always does).
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")


@dataclass
class Rejected:
    line: int
    value: str
    reason: str


@dataclass
class ParsedRow:
    line: int
    address: str
    name: str
    fields: dict[str, str]


@dataclass
class CsvReport:
    """What happened to every row; ``rejected`` lists line numbers and reasons."""

    encoding: str = "utf-8"
    encoding_note: str = ""
    rows: int = 0
    valid: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: int = 0
    created: int = 0
    existing: int = 0
    added_to_list: int = 0
    not_mailable: int = 0

    def lines(self) -> list[str]:
        """A human-readable summary, one line per fact, then one per rejected row."""
        out = [f"encoding: {self.encoding}" + (f" ({self.encoding_note})" if self.encoding_note else "")]
        out.append(
            f"rows: {self.rows}, valid: {self.valid}, rejected: {len(self.rejected)} "
            f"(duplicates: {self.duplicates}), new subscribers: {self.created}, "
            f"already known: {self.existing}, added to list: {self.added_to_list}, "
            f"suppressed or unsubscribed (kept, never mailed): {self.not_mailable}"
        )
        out.extend(f"line {r.line}: {r.reason}: {r.value!r}" for r in self.rejected)
        return out


def decode_csv_bytes(data: bytes) -> tuple[str, str, str]:
    """(text, encoding, note): UTF-8 (with or without BOM), else cp1252, else Latin-1."""
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        note = "" if encoding == "utf-8-sig" else f"not valid UTF-8; read as {encoding}, check accented names"
        return text, ("utf-8" if encoding == "utf-8-sig" else encoding), note
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def parse_csv(data: bytes, report: CsvReport) -> Iterator[ParsedRow]:
    """Valid, first-seen rows of a subscriber CSV; everything else goes to ``report``."""
    text, report.encoding, report.encoding_note = decode_csv_bytes(data)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text[:8192]))
    header, email_col, name_col = _read_header(reader)
    seen: dict[str, int] = {}
    line = reader.line_num + 1
    for cells in reader:
        row_line, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        report.rows += 1
        parsed = _row(cells, header, email_col, name_col, row_line, report)
        if parsed is None:
            continue
        key = address_key(parsed.address)
        if key in seen:
            report.duplicates += 1
            report.rejected.append(Rejected(row_line, parsed.address, f"duplicate of line {seen[key]}"))
            continue
        seen[key] = row_line
        report.valid += 1
        yield parsed


def _read_header(reader: Iterator[list[str]]) -> tuple[list[str], int, int]:
    """Column names and the address/name columns; a file without a header row is rejected."""
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        folded = [c.strip().lower() for c in cells]
        email_col = next((i for i, c in enumerate(folded) if c in EMAIL_COLUMNS), -1)
        if email_col < 0:
            raise ValueError(
                f"no address column in the header row {cells[:6]!r}: name one of {', '.join(EMAIL_COLUMNS[:3])}"
            )
        name_col = next((i for i, c in enumerate(folded) if c in NAME_COLUMNS), -1)
        return [c.strip() for c in cells], email_col, name_col
    raise ValueError("the file is empty")


def _row(
    cells: list[str], header: list[str], email_col: int, name_col: int, line: int, report: CsvReport
) -> ParsedRow | None:
    if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
        report.rejected.append(Rejected(line, ",".join(cells)[:120], f"{len(cells)} cells, header has {len(header)}"))
        return None
    cell = cells[email_col] if email_col < len(cells) else ""
    try:
        address = validate_address(cell)
    except InvalidAddress as exc:
        report.rejected.append(Rejected(line, cell[:120], str(exc)))
        return None
    name = cells[name_col].strip() if 0 <= name_col < len(cells) else ""
    fields = {
        _field_name(header[i]): cells[i].strip()
        for i in range(min(len(cells), len(header)))
        if i not in (email_col, name_col) and header[i]
    }
    return ParsedRow(line, address, name.replace("\r", " ").replace("\n", " "), fields)


def _field_name(column: str) -> str:
    """``First Name`` -> ``first_name``: a name a template can use."""
    name = "".join(ch if ch.isalnum() else "_" for ch in column.strip().lower()).strip("_")
    return name or "column"
