"""Which report days a run asks for, and what the answers mean for the next run.

The source keeps its own record of each entity's days in the resource state (dlt's `incremental`
takes the newest `day` of whatever was yielded, which lets a partial extract or a line dated
2099 move it): the first day with data, the newest day whose every table was written, and the
holes between them that GitHub did not have. A day is recorded only once every item holding its
lines was handed to dlt, so a generator closed early (`add_limit`) leaves the record where it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any


def day_range(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def plan_days(start: date, last: date, holes: Iterable[date], earliest: date) -> list[date]:
    """The window from `start` to `last` plus the older holes still worth retrying, oldest first."""
    window = set(day_range(max(start, earliest), last)) if start <= last else set()
    retry = {d for d in holes if earliest <= d <= last}
    return sorted(window | retry)


def _day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class DayRecord:
    """What the source knows about one entity's report days (stored as ISO dates)."""

    first_day: date | None = None
    newest_day: date | None = None
    holes: tuple[date, ...] = ()

    @classmethod
    def from_state(cls, stored: dict[str, Any]) -> DayRecord:
        holes = (_day(d) for d in stored.get("holes", []))
        return cls(_day(stored.get("first_day")), _day(stored.get("newest_day")), tuple(d for d in holes if d))

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"holes": [d.isoformat() for d in self.holes]}
        if self.first_day:
            state["first_day"] = self.first_day.isoformat()
        if self.newest_day:
            state["newest_day"] = self.newest_day.isoformat()
        return state

    def window_start(self, lookback_days: int, start_date: date) -> date:
        """Where the next run starts: `lookback_days` before the newest complete day."""
        if self.newest_day is None:
            return start_date
        return max(self.newest_day - timedelta(days=lookback_days), start_date)

    def updated(self, outcome: DayOutcome, earliest: date, holes: bool = True) -> DayRecord:
        """The record after a run that completed `outcome.loaded` and found `outcome.unavailable`.

        Without `holes` (a report GitHub publishes only for days with activity), a day without a
        report between days with one had nothing to report: it is not asked for again.
        """
        first = min([*([self.first_day] if self.first_day else []), *outcome.loaded], default=None)
        newest = max([*([self.newest_day] if self.newest_day else []), *outcome.loaded], default=None)
        if not holes:
            return DayRecord(first, newest, ())
        still_missing = {d for d in self.holes if d not in outcome.loaded and d >= earliest}
        found_missing = set(outcome.holes(first, newest))
        return DayRecord(first, newest, tuple(sorted(still_missing | found_missing)))


def migrate_state(resource_state: dict[str, Any], today: date) -> DayRecord | None:
    """The record of a pipeline an older version ran (dlt's `incremental` and top-level keys).

    `newest_day` was written only by complete runs; the cursor's `last_value` (the newest `day`
    yielded) is used only without it, and never beyond yesterday.
    """
    cursor = resource_state.pop("incremental", {}).get("day", {})
    record = DayRecord.from_state(
        {k: resource_state.pop(k) for k in ("first_day", "newest_day", "holes") if k in resource_state}
    )
    if record.newest_day is None:
        last = _day(cursor.get("last_value"))
        if last is not None and last < today:
            record = DayRecord(record.first_day, last, record.holes)
    return record if record != DayRecord() else None


@dataclass
class DayOutcome:
    """What one run learned about the days it asked for."""

    loaded: list[date] = field(default_factory=list)
    unavailable: list[date] = field(default_factory=list)

    def holes(self, first_loaded: date | None, newest: date | None) -> list[date]:
        """Unavailable days between data we have: GitHub skipped them, retry later."""
        if first_loaded is None or newest is None:
            return []
        return sorted(d for d in self.unavailable if first_loaded <= d < newest)

    def not_yet_available(self, newest: date | None) -> list[date]:
        return sorted(d for d in self.unavailable if newest is None or d > newest)


def compact(days: Sequence[date]) -> str:
    """'2026-01-01..2026-01-05, 2026-01-09' for a summary line."""
    if not days:
        return "none"
    ordered = sorted(days)
    runs: list[list[date]] = [[ordered[0], ordered[0]]]
    for day in ordered[1:]:
        if day == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)
