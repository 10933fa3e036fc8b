"""Tables as CSV files (organization.download_for_get_all): columns from the web app's field mappings,
cells from listing pages, and the guard against spreadsheet formulas.

A cell whose text starts with `=`, `+`, `-`, `@`, a tab or a carriage return would be run as a formula
by Excel, LibreOffice or Google Sheets when the file is opened (CSV injection: a model named
`=HYPERLINK(...)` by one user, exported by another). Such a cell gets a leading single quote, which
spreadsheets show as text, the way the ClearML server does.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Hashable, Iterable

from services import errors

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"  # spreadsheet programs read the file as UTF-8 only with it


def neutralised(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class Columns:
    """The CSV's columns: (title, field path, value names) each, in the order of `field_mappings`."""

    def __init__(self, field_mappings: list[dict]):
        self.columns: list[tuple[str, list[str], dict]] = []
        titles: set[str] = set()
        for mapping in field_mappings:
            title = mapping.get("name") or mapping["field"]
            if title in titles:
                raise errors.ValidationError(f"Field_name appears more than once in field_mappings: {title}")
            titles.add(title)
            names: dict = {}
            for pair in mapping.get("values") or []:
                key = pair.get("key")
                if not isinstance(key, Hashable):
                    continue  # a list or an object is never a field's scalar value
                if key in names:
                    raise errors.ValidationError(f"Value key appears more than once in field_mappings: {key}")
                names[key] = pair.get("value")
            self.columns.append((title, mapping["field"].split("."), names))

    def header(self) -> list[str]:
        return [neutralised(title) for title, _, _ in self.columns]

    def row(self, doc: dict) -> list[str]:
        return [_cell(doc, path, names) for _, path, names in self.columns]


def _cell(doc: dict, path: list[str], names: dict) -> str:
    value = doc
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return ""
        value = value[key]
    if isinstance(value, dict):
        value = value.get("id", "")  # a reference shown as {"id": ...}
    if names and isinstance(value, Hashable):
        value = names.get(value, value)
    return neutralised("" if value is None else str(value))


def chunks(columns: Columns, pages: Iterable[list[dict]]) -> Iterable[bytes]:
    """The file: the byte-order mark and the header row, then one chunk of rows per page."""
    yield _lines([columns.header()], BOM)
    for docs in pages:
        yield _lines([columns.row(doc) for doc in docs])


def _lines(rows: list[list[str]], prefix: str = "") -> bytes:
    out = io.StringIO()
    out.write(prefix)
    csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")
