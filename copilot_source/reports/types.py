"""One typing rule for report values, the same on the Arrow and the plain-Python path.

A column's type is fixed the first time it is known, and kept for good: the type in the
pipeline's stored schema if there is one; else the declared type of a known field (below); else
the kind of its first non-null value: text, bool, or double for any number (JSON has one number
type: an undeclared field that is 1 today may be 0.5 tomorrow).

A value that fits its column exactly is stored there: a whole number in a bigint column, an
integer up to 2**53 in a double column, a number or a flag in a text column as its JSON text
(`4242` -> "4242"), an ISO date or timestamp in a date or timestamp column (fractions of a second
beyond microseconds are cut off: DuckDB and PostgreSQL hold microseconds). Any other value goes
to dlt's variant column `<column>__v_<type>`, typed after the value: bigint, double, bool, or text
for strings and for integers beyond 64 bits (their exact decimal digits). Nothing is rounded.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from dlt.common.schema import Schema

from copilot_source.reports.layout import LIST_INDEX, SEPARATOR, leaf

TEXT, BIGINT, DOUBLE, BOOL, DATE, TIMESTAMP = "text", "bigint", "double", "bool", "date", "timestamp"
VARIANT_TYPES = (TEXT, BIGINT, DOUBLE, BOOL)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# the largest integer a double holds exactly (and every integer below it)
EXACT_DOUBLE = 2**53

# ---- the fields we know ----------------------------------------------------------------------
# (matched on the last part of a flattened name; `day` and the report window only at the top)
TOP_LEVEL_DATES = frozenset({"day", "report_start_day", "report_end_day"})
TIMESTAMPS = frozenset({"sampled_at", "created_at"})
# identifiers GitHub sends as strings (enterprise_id "1"): a number there becomes its text
TEXTS = frozenset({"enterprise_id", "organization_id", "day_partition", "etl_id", "user_login", "slug"})
BIGINTS = frozenset({"user_id", "team_id", "repo_id", "phase_number", "entity_id_partition", LIST_INDEX})
BIGINT_SUFFIXES = ("_count", "_sum", "_users")
BIGINT_PREFIXES = ("total_",)
DOUBLES = frozenset({"ai_credits_used"})
DOUBLE_PREFIXES = ("avg_", "median_")
BOOL_PREFIXES = ("used_",)

# years 0001 to 9999, as Python's dates hold them
_YEAR = r"(000[1-9]|00[1-9]\d|0[1-9]\d{2}|[1-9]\d{3})"
DATE_PATTERN = rf"^{_YEAR}-\d{{2}}-\d{{2}}$"
# an ISO date-time with a zone (Z, +hh, +hhmm, +hh:mm) and at most nine fractional digits
TIMESTAMP_PATTERN = rf"^{_YEAR}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}(:\d{{2}}(\.\d{{1,9}})?)?(Z|[+-]\d{{2}}(:?\d{{2}})?)$"
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2})(?::?(\d{2}))?)"
)
_DATE = re.compile(DATE_PATTERN)


class _Misfit:
    """What `fit` answers for a value that does not fit a column's type."""


MISFIT: Any = _Misfit()


def variant_column(column: str, data_type: str) -> str:
    """dlt's name for the column of the values of `column` that are of `data_type`."""
    return f"{column}{SEPARATOR}v_{data_type}"


def variant_type(column: str) -> str | None:
    """The type a variant column holds by its name, None for other columns."""
    _, _, last = column.rpartition(SEPARATOR)
    if last.startswith("v_") and last[2:] in VARIANT_TYPES and column != last:
        return last[2:]
    return None


def declared_type(column: str) -> str | None:
    """The type of a field we know, by the last part of its flattened name."""
    found = variant_type(column)
    if found:
        return found
    name = leaf(column)
    if name in TOP_LEVEL_DATES and column == name:
        return DATE
    if name in TIMESTAMPS:
        return TIMESTAMP
    if name in TEXTS:
        return TEXT
    if name in BIGINTS or name.endswith(BIGINT_SUFFIXES) or name.startswith(BIGINT_PREFIXES):
        return BIGINT
    if name in DOUBLES or name.startswith(DOUBLE_PREFIXES):
        return DOUBLE
    if name.startswith(BOOL_PREFIXES):
        return BOOL
    return None


def first_value_type(value: Any) -> str:
    """The type an undeclared column takes from its first non-null value."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, (int, float)):
        return DOUBLE
    return TEXT


def value_type(value: Any) -> str:
    """The variant type of a value that fits nowhere else."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return BIGINT if INT64_MIN <= value <= INT64_MAX else TEXT
    if isinstance(value, float):
        return DOUBLE
    return TEXT


def parse_date(text: str) -> date | None:
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_timestamp(text: str) -> datetime | None:
    """An ISO date-time with a zone, in UTC; digits beyond microseconds are cut off."""
    found = _TIMESTAMP.fullmatch(text)
    if not found:
        return None
    year, month, day, hour, minute, second, fraction, zone, sign, zone_hours, zone_minutes = found.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "").ljust(6, "0")[:6]),
            tzinfo=timezone.utc,
        )
        if zone != "Z":
            offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes or 0))
            moment = moment - offset if sign == "+" else moment + offset
    except (ValueError, OverflowError):
        return None
    return moment


def json_text(value: Any) -> str:
    """A scalar as JSON writes it: 4242 -> "4242", 0.5 -> "0.5", True -> "true"."""
    return value if isinstance(value, str) else json.dumps(value)


def fit(value: Any, column_type: str) -> Any:
    """`value` converted to `column_type` exactly, or MISFIT. `value` is a JSON scalar, not None."""
    is_bool = isinstance(value, bool)
    if column_type == TEXT:
        return json_text(value)
    if column_type == BIGINT:
        if isinstance(value, int) and not is_bool:
            return value if INT64_MIN <= value <= INT64_MAX else MISFIT
        if isinstance(value, float) and value.is_integer() and -(2.0**63) <= value < 2.0**63:
            return int(value)
        return MISFIT
    if column_type == DOUBLE:
        if isinstance(value, float):
            return value
        if isinstance(value, int) and not is_bool and -EXACT_DOUBLE <= value <= EXACT_DOUBLE:
            return float(value)
        return MISFIT
    if column_type == BOOL:
        return value if is_bool else MISFIT
    if column_type == DATE:
        parsed: Any = parse_date(value) if isinstance(value, str) else None
        return MISFIT if parsed is None else parsed
    if column_type == TIMESTAMP:
        parsed = parse_timestamp(value) if isinstance(value, str) else None
        return MISFIT if parsed is None else parsed
    return MISFIT  # a type this source never writes (from a stored schema): keep out of it


class ColumnTypes:
    """The type of every column of every table of one resource, decided once and kept."""

    def __init__(self, known: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._tables: dict[str, dict[str, str]] = {t: dict(c) for t, c in (known or {}).items()}

    @classmethod
    def from_schema(cls, schema: Schema | None, tables: str) -> ColumnTypes:
        """The types already in the pipeline's schema for `tables` and its array tables."""
        known: dict[str, dict[str, str]] = {}
        for name, table in (schema.tables if schema else {}).items():
            if name != tables and not name.startswith(tables + SEPARATOR):
                continue
            known[name] = {
                column: str(spec["data_type"])
                for column, spec in table.get("columns", {}).items()
                if spec.get("data_type") and not column.startswith("_dlt")
            }
        return cls(known)

    def of(self, table: str, column: str) -> str | None:
        return self._tables.get(table, {}).get(column)

    def decide(self, table: str, column: str, kind: str) -> str:
        """The column's type; a new column takes its declared type, else `kind`."""
        columns = self._tables.setdefault(table, {})
        found = columns.get(column)
        if found is None:
            found = columns[column] = declared_type(column) or kind
        return found

    def place(self, table: str, column: str, value: Any) -> tuple[str, Any]:
        """Where a non-null JSON scalar is stored: its column or a variant column, and as what."""
        column_type = self.decide(table, column, first_value_type(value))
        fitted = fit(value, column_type)
        if fitted is not MISFIT:
            return column, fitted
        return self.place(table, variant_column(column, value_type(value)), value)

    def snapshot(self) -> dict[str, dict[str, str]]:
        return copy.deepcopy(self._tables)

    def restore(self, snapshot: dict[str, dict[str, str]]) -> None:
        self._tables = snapshot
