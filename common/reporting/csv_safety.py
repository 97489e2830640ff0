"""CSV cells a spreadsheet would run as formulas, neutralised (CSV injection).

A cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a
formula when the CSV is opened in Excel, LibreOffice or Google Sheets. Customer
text reaches our CSVs verbatim, so every text cell that begins so gets a leading
``'`` (OWASP's advice): the spreadsheet shows the text, the ``'`` hidden. One
exception keeps lead keys usable: a ``+`` or ``-`` followed only by digits,
spaces, ``(``, ``)``, ``.`` and ``-`` (a phone number like ``+52 55 1234 5678``,
a negative amount) is a plain number to a spreadsheet and is left as it is.
Numbers and timestamps are typed columns and never touched. The Google Sheet
sink does not need this: it writes with ``valueInputOption=RAW``.
"""

from __future__ import annotations

import polars as pl

FORMULA_START = r"^[=+\-@\t\r]"
"""A text cell matching this is a formula to a spreadsheet..."""
PLAIN_NUMBER = r"^[+\-][0-9 ().\-]*$"
"""...unless it matches this: a signed number or phone number, no function or reference."""


def neutralize_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with a ``'`` before every text cell a spreadsheet would run (vectorised)."""
    texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START) & ~pl.col(name).str.contains(PLAIN_NUMBER))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in texts
    )
