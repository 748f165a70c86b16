"""Report lines to typed rows in plain Python: the reference for the Arrow path, and its fallback.

Each line is checked (`lines.py`), its day rows flattened (objects joined by `__`, arrays into
their own tables), every value placed by the one typing rule (`types.py`), and a repeated key
dropped. The Arrow path hands every chunk it cannot convert exactly to `LineConverter` and makes
Arrow tables of its rows (`rows_table`), so both paths load the same columns, types and values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from copilot_source.reports.duplicates import FirstCopies
from copilot_source.reports.layout import LIST_INDEX, SEPARATOR, bad_line_error, child_table
from copilot_source.reports.lines import (
    LineProblem,
    Names,
    collision,
    day_rows,
    decode_line,
    element_key,
    misfit_key,
    missing,
    wrong_day,
)
from copilot_source.reports.types import (
    BIGINT,
    BOOL,
    DATE,
    DOUBLE,
    MISFIT,
    TEXT,
    TIMESTAMP,
    ColumnTypes,
    first_value_type,
    fit,
)

Row = dict[str, Any]
BATCH_ROWS = 5000
ELEMENT_VALUE = "value"
ARROW_TYPES = {
    TEXT: pa.string(),
    BIGINT: pa.int64(),
    DOUBLE: pa.float64(),
    BOOL: pa.bool_(),
    DATE: pa.date32(),
    TIMESTAMP: pa.timestamp("us", tz="UTC"),
}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class LineConverter:
    """Turns one report line into (table, row) pairs with typed values, or raises `LineProblem`."""

    def __init__(self, table: str, keys: Sequence[str], types: ColumnTypes, names: Names, copies: FirstCopies) -> None:
        self.table = table
        self.keys = tuple(keys)
        self.types = types
        self.names = names
        self.copies = copies

    def _flatten(
        self, record: Row, prefix: str, row: Row, arrays: list[tuple[str, list[Any]]] | None, raw: dict[str, str]
    ) -> None:
        """Columns of a record (objects joined by `__`); arrays apart, or (in elements) as JSON."""
        for key, value in record.items():
            name = prefix + self.names(key)
            if name in raw:
                raise collision(name, raw[name], key)
            raw[name] = key
            if isinstance(value, dict):
                self._flatten(value, name + SEPARATOR, row, arrays, raw)
            elif isinstance(value, list):
                if arrays is None:
                    row[name] = _json(value)  # an array inside an array element stays JSON text
                else:
                    arrays.append((name, value))
            elif value is not None:
                row[name] = value

    def _typed(self, table: str, row: Row) -> Row:
        typed: Row = {}
        for name, value in row.items():
            column, converted = self.types.place(table, name, value)
            typed[column] = converted
        return typed

    def _key_values(self, row: Row, day: date) -> Row:
        values: Row = {}
        for key in self.keys:
            value = row.get(key)
            if value is None:
                raise missing(key)
            column_type = self.types.decide(self.table, key, first_value_type(value))
            typed = fit(value, column_type)
            if typed is MISFIT:
                raise misfit_key(key, value, column_type)
            values[key] = typed
        if "day" in values and values["day"] != day:
            raise wrong_day(row["day"], day)
        return values

    def _element(self, child: str, path: str, index: int, element: Any, keys: Row) -> Row:
        columns: Row = {}
        if isinstance(element, dict):
            self._flatten(element, "", columns, None, {})
        else:
            columns[ELEMENT_VALUE] = _json(element) if isinstance(element, list) else element
        row: Row = {**keys, LIST_INDEX: index}
        for key in row:
            self.types.decide(child, key, TEXT)
        for name, value in columns.items():
            if name in keys or name == LIST_INDEX:
                # a field named like a key column must say what the key says
                column_type = self.types.decide(child, name, first_value_type(value))
                if fit(value, column_type) != row[name]:
                    raise element_key(path, index, name, value, row[name])
                continue
            column, converted = self.types.place(child, name, value)
            row[column] = converted
        return row

    def convert(self, raw: bytes, day: date) -> list[tuple[str, Row]]:
        """The rows one line loads (none if it repeats a key already loaded for the day)."""
        pairs: list[tuple[str, Row]] = []
        for source in day_rows(decode_line(raw)):
            row: Row = {}
            arrays: list[tuple[str, list[Any]]] = []
            self._flatten(source, "", row, arrays, {})
            key_values = self._key_values(row, day)
            if not self.copies.keep(tuple(key_values.values())):
                continue
            pairs.append((self.table, self._typed(self.table, row)))
            for path, values in arrays:
                child = child_table(self.table, tuple(path.split(SEPARATOR)))
                for index, element in enumerate(values):
                    if element is not None:
                        pairs.append((child, self._element(child, path, index, element, key_values)))
        return pairs


def file_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of every non-blank line of a file."""
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            if raw.strip():
                yield number, raw


def chunk_lines(chunk: bytes, first_line: int) -> Iterator[tuple[int, bytes]]:
    for offset, raw in enumerate(chunk.split(b"\n")):
        if raw.strip():
            yield first_line + offset, raw


def convert_lines(
    converter: LineConverter, lines: Iterator[tuple[int, bytes]], label: str, day: date
) -> Iterator[tuple[str, Row]]:
    """(table, row) pairs of numbered lines; a bad line raises `ReportDataError` naming it."""
    for number, raw in lines:
        try:
            pairs = converter.convert(raw, day)
        except LineProblem as problem:
            raise bad_line_error(label, number, problem.what) from None
        yield from pairs


def rows_table(types: ColumnTypes, table: str, rows: list[Row], keys: Sequence[str]) -> pa.Table:
    """An Arrow table of typed rows, each column of the type the rule gave it."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    fields = []
    for name in names:
        column_type = types.of(table, name)
        assert column_type in ARROW_TYPES, (table, name, column_type)
        fields.append(pa.field(name, ARROW_TYPES[column_type], nullable=name not in keys))
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


class RowParser:
    """The plain-Python path: report files to batches of row dicts, per table."""

    def __init__(
        self,
        table_name: str,
        keys: Sequence[str],
        types: ColumnTypes | None = None,
        names: Names | None = None,
        copies: FirstCopies | None = None,
    ) -> None:
        self.copies = copies or FirstCopies()
        self.flushing_days: frozenset[date] = frozenset()
        self.converter = LineConverter(table_name, keys, types or ColumnTypes(), names or Names(), self.copies)

    def add(self, path: Path, label: str, day: date) -> Iterator[tuple[str, list[Row]]]:
        self.copies.forget_before(day)
        self.flushing_days = frozenset({day})
        batches: dict[str, list[Row]] = {}
        for table, row in convert_lines(self.converter, file_lines(path), label, day):
            batch = batches.setdefault(table, [])
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                yield table, batch
                batches[table] = []
        for table, batch in batches.items():
            if batch:
                yield table, batch

    def flush(self) -> Iterator[tuple[str, list[Row]]]:
        yield from ()

    @property
    def pending_days(self) -> frozenset[date]:
        return frozenset()  # a file's rows are all yielded before `add` returns
