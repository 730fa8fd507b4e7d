"""CSV files the product writes are opened by operators in Excel or Google Sheets, where a
cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula (CSV injection: ``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``). Every such cell
is written with a leading apostrophe, which both programs show as text (OWASP's advice)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    """The cell text, with a leading apostrophe when it would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def write_csv(path: Path, header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> None:
    """Write a UTF-8 CSV with every cell neutralised."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([neutralise(h) for h in header])
        for row in rows:
            writer.writerow([neutralise(v) for v in row])
