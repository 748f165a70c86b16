"""The typing rule of `types.py` for whole Arrow columns: the fast path's side of it.

`conform` places a parsed column in its column and variant columns, typed as `types.ColumnTypes`
decides, exactly as `types.ColumnTypes.place` would place each value. Where a column does not
carry what that needs (JSON's `1` and `1.0` both became a double; NaN, which JSON has not), it
raises `Fallback` and the chunk goes to the plain-Python path.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from copilot_source.reports.rows import ARROW_TYPES
from copilot_source.reports.types import (
    BIGINT,
    BOOL,
    DATE,
    DATE_PATTERN,
    DOUBLE,
    EXACT_DOUBLE,
    TEXT,
    TIMESTAMP,
    TIMESTAMP_PATTERN,
    ColumnTypes,
    parse_date,
    parse_timestamp,
    variant_column,
)

_FRACTION_BEYOND_MICROSECONDS = r"(\.\d{6})\d+"


class Fallback(Exception):
    """The fast path cannot convert this chunk exactly; the plain-Python path will."""


_KINDS = {"int": BIGINT, "float": DOUBLE, "bool": BOOL, "str": TEXT}


def _kind(data_type: pa.DataType) -> str:
    if pa.types.is_null(data_type):
        return "null"
    if pa.types.is_integer(data_type):
        return "int"
    if pa.types.is_floating(data_type):
        return "float"
    if pa.types.is_boolean(data_type):
        return "bool"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "str"
    raise Fallback(f"values of type {data_type}")


@dataclass
class _Fitted:
    """A column converted to its type, and which of its values do not fit (None: all fit)."""

    values: pa.ChunkedArray | None
    misfits: pa.ChunkedArray | None


def _all_misfit(column: pa.ChunkedArray) -> _Fitted:
    return _Fitted(None, pc.is_valid(column))


# what a failed cast of strings raises, or a value outside the years 1 to 9999 Python can hold
_CAST_FAILED = (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError)


def _cast_within_python(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    """`column` cast to `target`; raises `_CAST_FAILED` where a value is beyond what Python holds
    (year 0, or a moment a zone moves outside the years 1 to 9999)."""
    values = pc.cast(column, target)
    if values.null_count < len(values):
        bounds = pc.min_max(values)
        bounds["min"].as_py(), bounds["max"].as_py()
    return values


def _parsed(column: pa.ChunkedArray, target: pa.DataType, pattern: str, parse: Any) -> _Fitted:
    """Strings to dates or timestamps: the forms `types.parse_*` accept; the rest do not fit."""
    if target == ARROW_TYPES[DATE]:
        # the common case, a column of valid days: Arrow's cast takes exactly YYYY-MM-DD, so no
        # pattern needs matching first
        with contextlib.suppress(*_CAST_FAILED):
            return _Fitted(_cast_within_python(column, target), None)
    fits = pc.fill_null(pc.match_substring_regex(column, pattern), False)
    candidates = pc.if_else(fits, column, pa.scalar(None, pa.string()))
    try:
        if target == ARROW_TYPES[TIMESTAMP]:
            candidates = pc.replace_substring_regex(candidates, _FRACTION_BEYOND_MICROSECONDS, r"\1")
        values = _cast_within_python(candidates, target)
    except _CAST_FAILED:
        # a value of the right form but no such day (2026-02-30): value by value, as Python does
        parsed = [None if v is None else parse(v) for v in column.to_pylist()]
        values = pa.chunked_array([pa.array(parsed, target)])
        fits = pc.is_valid(values)
    misfits = pc.and_(pc.is_valid(column), pc.invert(fits))
    return _Fitted(values, misfits if pc.any(misfits).as_py() else None)


def _fit(column: pa.ChunkedArray, kind: str, column_type: str) -> _Fitted:
    """`types.fit` for a whole column of one JSON kind."""
    if kind == "float":
        if not pc.all(pc.is_finite(column)).as_py():
            raise Fallback("NaN or Infinity, which JSON does not have")  # pyarrow reads them; Python refuses
        largest = pc.max(pc.abs(column)).as_py()
        if largest is not None and largest >= EXACT_DOUBLE:
            # an integer beyond 64 bits, or beside fractions, that pyarrow may have rounded
            raise Fallback("a number of 2**53 or more in a column of fractions")
    if kind == "float" and column_type not in (BIGINT, DOUBLE):
        # JSON's 1 and 1.0 both became 1.0: which variant or text a value gets is unknown here
        raise Fallback(f"a fraction column where {column_type} is expected")
    if column_type == TEXT:
        return _Fitted(column if kind == "str" else pc.cast(column, pa.string()), None)
    if column_type == BIGINT:
        if kind == "int":
            return _Fitted(column, None)
        if kind == "float":
            whole = pc.and_(
                pc.equal(pc.floor(column), column),
                pc.and_(pc.greater_equal(column, -(2.0**63)), pc.less(column, 2.0**63)),
            )
            whole = pc.fill_null(whole, True)
            kept = pc.if_else(whole, column, pa.scalar(None, pa.float64()))
            misfits = pc.invert(whole)
            return _Fitted(pc.cast(kept, pa.int64()), misfits if pc.any(misfits).as_py() else None)
        return _all_misfit(column)
    if column_type == DOUBLE:
        if kind == "float":
            return _Fitted(column, None)
        if kind == "int":
            # an integer beyond 2**53 is not exact as a double: it goes to the bigint variant
            inexact = pc.or_(pc.greater(column, EXACT_DOUBLE), pc.less(column, -EXACT_DOUBLE))
            kept = pc.if_else(inexact, pa.scalar(None, column.type), column)
            return _Fitted(pc.cast(kept, pa.float64()), inexact if pc.any(inexact).as_py() else None)
        return _all_misfit(column)
    if column_type == BOOL:
        return _Fitted(column, None) if kind == "bool" else _all_misfit(column)
    if column_type == DATE and kind == "str":
        return _parsed(column, ARROW_TYPES[DATE], DATE_PATTERN, parse_date)
    if column_type == TIMESTAMP and kind == "str":
        return _parsed(column, ARROW_TYPES[TIMESTAMP], TIMESTAMP_PATTERN, parse_timestamp)
    return _all_misfit(column)


def conform(types: ColumnTypes, table: str, name: str, column: pa.ChunkedArray) -> list[tuple[str, pa.ChunkedArray]]:
    """The column (and variant columns) a parsed column of `table` loads into, typed by the rule."""
    kind = _kind(column.type)
    if kind == "null" or column.null_count == len(column):
        return []
    column_type = types.decide(table, name, _KINDS[kind] if kind != "int" else DOUBLE)
    fitted = _fit(column, kind, column_type)
    placed = []
    if fitted.values is not None and fitted.values.null_count < len(fitted.values):
        placed.append((name, fitted.values))
    if fitted.misfits is not None:
        rest = pc.if_else(fitted.misfits, column, pa.scalar(None, column.type))
        placed.extend(conform(types, table, variant_column(name, _KINDS[kind]), rest))
    return placed
