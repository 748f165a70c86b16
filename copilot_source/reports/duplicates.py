"""One row per key and day: the first copy of a line is loaded, later copies are dropped and counted.

GitHub may list the same link twice or repeat a user in two files of one day. A copy is dropped
before its arrays are cut into array tables, so no table holds it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

# a row's key, e.g. (day, enterprise_id, user_id); its leading part (day, enterprise_id) is
# shared by the many rows of one report day and stored once
Key = tuple[Any, ...]


class FirstCopies:
    """The keys seen so far, grouped by their leading part; forgets the days that are done."""

    def __init__(self) -> None:
        self._seen: dict[Key, set[Any]] = {}
        self.dropped: dict[date, int] = {}

    def _count(self, leading: Key, copies: int = 1) -> None:
        self.dropped[leading[0]] = self.dropped.get(leading[0], 0) + copies

    def keep(self, key: Key) -> bool:
        """True for the first copy of `key`, which is remembered; False (and counted) after."""
        seen = self._seen.setdefault(key[:-1], set())
        if key[-1] in seen:
            self._count(key[:-1])
            return False
        seen.add(key[-1])
        return True

    def first_of(self, leading: Key, lasts: Sequence[Any]) -> list[bool]:
        """Which keys `leading + (last,)` are first copies, without remembering them (`commit`)."""
        seen = self._seen.get(leading, set())
        distinct = set(lasts)
        if len(distinct) == len(lasts) and seen.isdisjoint(distinct):
            return [True] * len(lasts)  # the usual case, decided by set operations
        new: set[Any] = set()
        firsts = []
        for last in lasts:
            first = last not in new and last not in seen
            if first:
                new.add(last)
            firsts.append(first)
        return firsts

    def commit(self, leading: Key, lasts: Sequence[Any], firsts: Sequence[bool]) -> None:
        """Remember what `first_of` found, once the rows it kept were turned into tables."""
        kept = [last for last, first in zip(lasts, firsts, strict=True) if first]
        self._seen.setdefault(leading, set()).update(kept)
        if len(kept) < len(lasts):
            self._count(leading, len(lasts) - len(kept))

    def forget_before(self, day: date) -> None:
        """Lines of days before `day` can no longer come (a line for another day is an error)."""
        for old in [leading for leading in self._seen if leading[0] < day]:
            del self._seen[old]
