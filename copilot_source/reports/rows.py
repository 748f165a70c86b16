"""Report files to row dicts in plain Python: the reference for the Arrow path.

Slower than `arrow_reports.py` by a wide margin, but simple enough to read as the specification
of the table layout (see `report_tables.py`); the tests require both to load identical tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from copilot_source.reports.layout import (
    DAY_ROWS,
    LIST_INDEX,
    SEPARATOR,
    bad_line_error,
    child_table,
    field_kind,
)

Row = dict[str, Any]
BATCH_ROWS = 5000


def _typed_value(value: Any, kind: str) -> Any:
    try:
        if kind == "date" and isinstance(value, str):
            return date.fromisoformat(value)
        if kind == "timestamp" and isinstance(value, str):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        if kind == "double" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    except ValueError:
        pass
    return value


def flatten(record: Row, prefix: str = "") -> tuple[Row, list[tuple[str, list[Any]]]]:
    """Columns of a record (objects joined by `__`) and its arrays, each with its path."""
    row: Row = {}
    arrays: list[tuple[str, list[Any]]] = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            nested, nested_arrays = flatten(value, f"{name}{SEPARATOR}")
            row.update(nested)
            arrays.extend(nested_arrays)
        elif isinstance(value, list):
            arrays.append((name, value))
        elif value is not None:
            row[name] = _typed_value(value, field_kind(name))
    return row, arrays


def _element_row(element: Any, keys: Row, index: int) -> Row:
    if isinstance(element, dict):
        columns, inner = flatten(element)
        # arrays inside array elements stay in place (dlt stores them as JSON)
        columns.update((name, values) for name, values in inner)
    else:
        columns = {} if element is None else {"value": element}
    return {**keys, LIST_INDEX: index, **{k: v for k, v in columns.items() if k not in keys}}


def line_tables(record: Row, table_name: str, keys: Sequence[str]) -> Iterator[tuple[str, Row]]:
    """(table, row) pairs of one report line: its day rows, then the elements of their arrays."""
    day_rows = record.get(DAY_ROWS)
    if isinstance(day_rows, list):
        outer = {k: v for k, v in record.items() if k != DAY_ROWS}
        rows = [{**{k: v for k, v in outer.items() if k not in day}, **day} for day in day_rows]
    else:
        rows = [record]
    for source in rows:
        row, arrays = flatten(source)
        key_values = {k: row[k] for k in keys}
        yield table_name, row
        for path, values in arrays:
            child = child_table(table_name, tuple(path.split(SEPARATOR)))
            for index, element in enumerate(values):
                yield child, _element_row(element, key_values, index)


def report_rows(path: Path, table_name: str, keys: Sequence[str], label: str) -> Iterator[tuple[str, list[Row]]]:
    """All rows of one report file, batched per table; a bad line raises `ReportDataError`."""
    batches: dict[str, list[Row]] = {}
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise bad_line_error(label, number, f"is not valid JSON ({exc.msg})") from None
            except ValueError:
                raise bad_line_error(label, number, "is not valid UTF-8 JSON") from None
            if not isinstance(record, dict):
                raise bad_line_error(label, number, "is not a JSON object")
            try:
                pairs = list(line_tables(record, table_name, keys))
            except KeyError as exc:
                raise bad_line_error(label, number, f"lacks {exc.args[0]}") from None
            for table, row in pairs:
                batch = batches.setdefault(table, [])
                batch.append(row)
                if len(batch) >= BATCH_ROWS:
                    yield table, batch
                    batches[table] = []
    for table, batch in batches.items():
        if batch:
            yield table, batch


class RowParser:
    """`report_rows` behind the interface of `arrow_reports.ReportParser`."""

    def __init__(self, table_name: str, keys: Sequence[str]) -> None:
        self.table_name = table_name
        self.keys = keys

    def add(self, path: Path, label: str) -> Iterator[tuple[str, list[Row]]]:
        yield from report_rows(path, self.table_name, self.keys, label)

    def flush(self) -> Iterator[tuple[str, list[Row]]]:
        yield from ()
