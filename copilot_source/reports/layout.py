"""The table layout of a report, shared by the Arrow and the plain-Python conversion.

A report line becomes one row of the resource's table. Nested objects become columns joined by
`__` (dlt's own naming), and every array becomes its own table named `<table>__<path>` whose rows
carry the line's key columns plus `list_index`, the element's position in its array. How values
are typed is `types.py`.
"""

from __future__ import annotations

from copilot_source.errors import ReportDataError

SEPARATOR = "__"
LIST_INDEX = "list_index"
# a wrapper line (28-day style) carries its day rows in this array
DAY_ROWS = "day_totals"


def leaf(column: str) -> str:
    return column.rsplit(SEPARATOR, 1)[-1]


def child_table(table: str, path: tuple[str, ...]) -> str:
    return SEPARATOR.join((table, *path))


def breakdown_primary_key(keys: tuple[str, ...]) -> tuple[str, ...]:
    return (*keys, LIST_INDEX)


def bad_line_error(label: str, line: int, what: str) -> ReportDataError:
    """The error for a report line that cannot be loaded, naming the day, file and line."""
    return ReportDataError(
        f"{label}, line {line}: the line {what}.",
        "The day was not loaded and the cursor did not move past it. Run again later (GitHub"
        " may correct the file), or show GitHub support the report day and file.",
    )
