"""Coalesce small pieces of the same table: dlt's cost is per item yielded, not per row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pyarrow as pa

MAX_BUFFERED_BYTES = 8 << 20


def _size(data: Any) -> int:
    # the buffers' size: `nbytes` would walk every array to account for slices
    return int(data.get_total_buffer_size()) if isinstance(data, pa.Table) else 256 * len(data)


def _combine(pieces: list[Any]) -> list[Any]:
    if len(pieces) == 1:
        return pieces
    if isinstance(pieces[0], pa.Table):
        try:
            return [pa.concat_tables(pieces, promote_options="default")]
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pieces  # a column changed type: let dlt see each piece as it came
    return [[row for piece in pieces for row in piece]]


class Batcher:
    """Buffers (table, data) pieces and releases them in batches of at most `max_bytes` in all."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes or MAX_BUFFERED_BYTES
        self._pieces: dict[str, list[Any]] = {}
        self._bytes = 0
        self._days: frozenset[date] = frozenset()

    @property
    def buffered_days(self) -> frozenset[date]:
        """Days whose rows wait in the buffer."""
        return self._days

    def add(self, table: str, data: Any, days: frozenset[date] = frozenset()) -> Iterator[tuple[str, Any]]:
        """Buffer `data` (rows of `days`); release the buffer once it is full."""
        self._pieces.setdefault(table, []).append(data)
        self._bytes += _size(data)
        self._days |= days
        if self._bytes >= self.max_bytes:
            yield from self.flush()

    def flush(self) -> Iterator[tuple[str, Any]]:
        pieces, self._pieces, self._bytes, self._days = self._pieces, {}, 0, frozenset()
        for table, parts in pieces.items():
            for data in _combine(parts):
                yield table, data
