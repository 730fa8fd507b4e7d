"""Reading the files users bring: any common encoding, any common delimiter, any field
size up to a cap, and every problem reported with its line, never a traceback.

- Encoding: UTF-8 (with or without BOM) and UTF-16/32 with a BOM are taken as they say;
  anything else is detected by charset-normalizer (cp1252 and Latin-1 from Excel on
  Windows, Mac Roman ...). The encoding used is reported as a warning when it is not UTF-8.
- Delimiter: ``csv.Sniffer`` over the first 64 KB, among ``, ; tab |``; a file whose
  header has one column and a ``;`` in it is read with ``;``.
- Field size: the reader accepts fields of any size; the importer rejects a row whose
  field is longer than :data:`FIELD_CAP` characters (a row, not the file).
- Lines: a row's number is the physical line it starts on (quoted newlines counted), as
  a spreadsheet shows it.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InputError

FIELD_CAP = 100_000  # characters in one field; a longer field rejects its row
MAX_FILE_BYTES = 512 * 1024 * 1024
DELIMITERS = ",;\t|"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # the cap is applied per row, with a reason


@dataclass
class Table:
    """A decoded delimited file: headers, rows with their line numbers, and warnings."""

    headers: list[str]
    rows: Iterator[tuple[int, list[str] | str]]  # values, or the reason the row cannot be read
    encoding: str
    delimiter: str
    warnings: list[str] = field(default_factory=list)


def decode(data: bytes, *, file: str) -> tuple[str, str]:
    """(text, encoding name). Raises InputError naming the file when no encoding fits."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"the file starts with a {name} byte-order mark but byte {exc.start} is not {name}",
                    file=file,
                ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise InputError(
            "cannot tell the file's text encoding (not UTF-8, UTF-16 or a known code page); "
            "save it as CSV UTF-8",
            file=file,
        )
    if best.encoding != "cp1252" and "cp1252" in (best.could_be_from_charset or []):
        try:  # the same bytes read as Windows-1252, the usual Excel export in the West
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    return str(best), best.encoding


def sniff_delimiter(text: str) -> str:
    sample = text[:65536]
    first = sample.split("\n", 1)[0]
    try:
        found = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        found = ","
    if found not in DELIMITERS:
        found = ","
    if found == "," and "," not in first:  # a one-line sample the sniffer cannot judge
        for candidate in ";\t|":
            if candidate in first:
                return candidate
    if found != "," and first.count(",") > first.count(found):
        return ","
    return found


def read_text(path: Path) -> tuple[str, list[str]]:
    """The decoded text of a file and a warning when it was not UTF-8; InputError naming
    the file when it is missing, too large, empty or in no known encoding."""
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"the file is {size:,} bytes, over the {MAX_FILE_BYTES:,} limit", file=file)
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=file) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", file=file) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", file=file) from None
    text, encoding = decode(data, file=file)
    if not text.strip():
        raise InputError("the file is empty (no header row)", file=file)
    warnings = []
    if encoding not in ("utf-8", "utf-8-sig", "ascii"):
        warnings.append(f"read as {encoding} (not UTF-8)")
    return text, warnings


def read_table(path: Path) -> Table:
    """Decode and split a delimited file. InputError for a file that cannot be read at all
    (missing, empty, undecodable); row problems are left to the caller."""
    file = str(path)
    text, warnings = read_text(path)
    encoding = warnings[0].split()[2] if warnings else "utf-8"
    delimiter = sniff_delimiter(text)
    if delimiter != ",":
        warnings.append(f"columns separated by {'tab' if delimiter == chr(9) else repr(delimiter)}")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        headers = next(reader)
    except StopIteration:
        raise InputError("the file is empty (no header row)", file=file) from None
    except csv.Error as exc:
        raise InputError(f"the header row cannot be read: {exc}", file=file) from None
    headers = [h.replace("\x00", "").strip() for h in headers]

    def rows() -> Iterator[tuple[int, list[str] | str]]:
        start = reader.line_num + 1
        while True:
            line = start
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                start = reader.line_num + 1
                yield line, f"the row cannot be read as CSV: {exc}"
                continue
            start = reader.line_num + 1
            yield line, values

    return Table(headers, rows(), encoding, delimiter, warnings)
