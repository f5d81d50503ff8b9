"""CSV as every command writes it (``--format csv``, bench reports): one writer, whose text cells cannot run as
spreadsheet formulas.

A file name such as ``=HYPERLINK("http://...")`` or ``@SUM(A1)`` written raw into a cell is evaluated by Excel,
LibreOffice and Google Sheets when the file is opened (CSV injection). As OWASP recommends, a text cell that begins
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a single quote before it (the quote
shows in the cell; strip one leading quote to get the value back); numbers, including negative ones, are written
as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

#: The first characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell a spreadsheet shows as text: a string starting with a formula character gets a
    leading ``'`` unless it is a plain number (``-0.5``); other values are returned unchanged."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value if value.strip() == value else "'" + value  # " -1" style padding is text, not a number


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object] | Mapping[str, object]]) -> str:
    """A header row and ``rows`` (sequences, or mappings read by the header's names; missing or None cells are
    empty) as CSV text, every cell through :func:`safe_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        cells = [row.get(h) for h in header] if isinstance(row, Mapping) else row
        writer.writerow([safe_cell(c) for c in cells])
    return buf.getvalue()
