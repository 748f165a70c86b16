"""The table layout of a report, shared by the Arrow and the plain-Python conversion.

A report line becomes one row of the resource's table. Nested objects become columns joined by
`__` (dlt's own naming), and every array becomes its own table named `<table>__<path>` whose rows
carry the line's key columns plus `list_index`, the element's position in its array. A field is
typed by its name: dates as DATE, GitHub's report timestamps as TIMESTAMP, decimals as DOUBLE;
everything else keeps the JSON type it arrives with.
"""

from __future__ import annotations

from copilot_source.errors import ReportDataError

# report fields whose JSON values may be integral but are decimals: typed as double on both paths
DOUBLE_FIELDS = frozenset(
    {
        "ai_credits_used",
        "avg_tokens_per_request",
        "median_minutes_to_merge",
        "median_minutes_to_merge_copilot_authored",
        "median_minutes_to_merge_copilot_reviewed",
    }
)
# ISO date strings that become SQL DATEs
DATE_FIELDS = frozenset({"day", "report_start_day", "report_end_day"})
# ISO date-time strings that become timestamps (matched on the last part of a flattened name)
TIMESTAMP_FIELDS = frozenset({"sampled_at", "created_at"})

SEPARATOR = "__"
LIST_INDEX = "list_index"
# a wrapper line (28-day style) carries its day rows in this array
DAY_ROWS = "day_totals"


def leaf(column: str) -> str:
    return column.rsplit(SEPARATOR, 1)[-1]


def field_kind(column: str) -> str:
    """'date', 'timestamp', 'double' or '' (keep the JSON type), decided by the field's name."""
    name = leaf(column)
    if name in DATE_FIELDS and column == name:
        return "date"
    if name in TIMESTAMP_FIELDS:
        return "timestamp"
    if name in DOUBLE_FIELDS:
        return "double"
    return ""


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
