"""Portable SQL pieces for the views, written in DuckDB's dialect for sqlglot to translate.

Only constructs sqlglot translates faithfully are used: weeks are computed from a known Monday
rather than with DATE_TRUNC('WEEK') (BigQuery and SQL Server start weeks on Sunday), window
orderings name their NULL placement, and counts are cast so every destination returns BIGINT.
"""

from __future__ import annotations

from dataclasses import dataclass

# a Monday: a week starts on the day a whole number of weeks after it
MONDAY = "DATE '2001-01-01'"
# one AI credit is USD 0.01
USD_PER_CREDIT = "0.01"


@dataclass(frozen=True)
class View:
    """One view: its name (without dataset) and its SELECT, in DuckDB's dialect."""

    name: str
    sql: str


def shift_days(day: str, days: int | str) -> str:
    """`day` moved by `days` (negative: back), as a DATE."""
    return f"CAST(DATE_ADD({day}, {days}, 'DAY') AS DATE)"


def week_start(day: str) -> str:
    """The Monday of `day`'s ISO week."""
    return shift_days(day, f"-1 * (DATE_DIFF('DAY', {MONDAY}, {day}) % 7)")


def month_start(day: str) -> str:
    return f"CAST(DATE_TRUNC('MONTH', {day}) AS DATE)"


def utc_day(timestamp: str) -> str:
    """The UTC calendar day of a timestamp, whatever the session's time zone."""
    return f"CAST({timestamp} AT TIME ZONE 'UTC' AS DATE)"


def days_between(first: str, last: str) -> str:
    return f"DATE_DIFF('DAY', {first}, {last})"


def ratio(numerator: str, denominator: str) -> str:
    """A fraction; NULL when the denominator is 0 or NULL."""
    return f"CAST({numerator} AS DOUBLE) / NULLIF(CAST({denominator} AS DOUBLE), 0)"


def count(expression: str) -> str:
    return f"CAST({expression} AS BIGINT)"


def when(condition: str, value: str) -> str:
    return f"CASE WHEN {condition} THEN {value} END"
