"""The one way the product writes CSV: every cell neutralised, streamed in chunks when asked.

Exports end up in spreadsheets, and their cells come from strangers: a
subscriber's name typed into a form, an address a returned message named
(``=1+2@evil.example`` is a syntactically fine Final-Recipient), a reason
given through the API. A spreadsheet evaluates a cell starting with
``= + - @`` (or a tab, carriage return or line feed before one) as a
formula (CWE-1236, "CSV injection"): ``=HYPERLINK(...)`` can send the
sheet's contents elsewhere when clicked. So every cell that starts with one
of these gets a leading ``'``, which spreadsheets show as text and hide.

Used by ``mailer export`` (through :mod:`mailer.csv_io`), the API's
``/suppressions/export.csv`` and anything else that writes CSV: a new export
calls :func:`csv_chunks` or :func:`write_csv`, never ``csv.writer`` itself.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(cell: object) -> str:
    """A cell that a spreadsheet will show as text, never evaluate."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_chunks(rows: Iterable[Mapping[str, object]], columns: Sequence[str],
               rows_per_chunk: int = 1000) -> Iterator[tuple[str, int]]:
    """The CSV of ``rows`` (header first) in pieces of ``rows_per_chunk`` rows, with the rows written so far.

    What a streamed HTTP download sends while the rest is still being read;
    memory stays one chunk whatever the size of the export.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(c) for c in columns])
    count = 0
    for row in rows:
        writer.writerow([neutralise(row.get(c, "")) for c in columns])
        count += 1
        if count % rows_per_chunk == 0:
            yield buffer.getvalue(), count
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue(), count


def write_csv(rows: Iterable[Mapping[str, object]], columns: Sequence[str], out: io.TextIOBase) -> int:
    """Write ``rows`` (dicts) under ``columns`` to ``out``, every cell neutralised; rows written."""
    count = 0
    for text, count in csv_chunks(rows, columns):
        out.write(text)
    return count
