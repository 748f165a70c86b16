"""Which report days a run asks for, and what the answers mean for the next run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta


def day_range(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def plan_days(start: date, last: date, holes: Iterable[date], earliest: date) -> list[date]:
    """The cursor's window plus the older holes still worth retrying, oldest first."""
    window = set(day_range(max(start, earliest), last)) if start <= last else set()
    retry = {d for d in holes if earliest <= d <= last}
    return sorted(window | retry)


@dataclass
class DayOutcome:
    """What one run learned about the days it asked for."""

    loaded: list[date] = field(default_factory=list)
    unavailable: list[date] = field(default_factory=list)

    def newest_loaded(self, before: date | None) -> date | None:
        candidates = [d for d in (*self.loaded, before) if d is not None]
        return max(candidates) if candidates else None

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
