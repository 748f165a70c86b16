"""One row per key and day: the first copy of a line is loaded, later copies are dropped and counted.

GitHub may list the same link twice or repeat a user in two files of one day. A copy is dropped
before its arrays are cut into array tables, so no table holds it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

Key = tuple[Any, ...]


class FirstCopies:
    """The keys seen so far per day (a key starts with its day); forgets days that are done."""

    def __init__(self) -> None:
        self._seen: dict[date, set[Key]] = {}
        self.dropped: dict[date, int] = {}

    def keep(self, key: Key) -> bool:
        """True for the first copy of `key`, which is remembered; False (and counted) after."""
        seen = self._seen.setdefault(key[0], set())
        if key in seen:
            self.dropped[key[0]] = self.dropped.get(key[0], 0) + 1
            return False
        seen.add(key)
        return True

    def first_of(self, keys: Sequence[Key]) -> list[bool]:
        """Which of `keys` are first copies, without remembering them (see `commit`)."""
        new: set[Key] = set()
        firsts = []
        for key in keys:
            first = key not in new and key not in self._seen.get(key[0], ())
            if first:
                new.add(key)
            firsts.append(first)
        return firsts

    def commit(self, keys: Sequence[Key], firsts: Sequence[bool]) -> None:
        """Remember what `first_of` found, once the rows it kept were turned into tables."""
        for key, first in zip(keys, firsts, strict=True):
            if first:
                self._seen.setdefault(key[0], set()).add(key)
            else:
                self.dropped[key[0]] = self.dropped.get(key[0], 0) + 1

    def forget_before(self, day: date) -> None:
        """Lines of days before `day` can no longer come (a line for another day is an error)."""
        for old in [d for d in self._seen if d < day]:
            del self._seen[old]
