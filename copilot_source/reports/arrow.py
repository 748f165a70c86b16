"""Report files to Arrow tables, in chunks: the fast path.

pyarrow's JSON reader parses a chunk of NDJSON in C++ on all cores; values are typed by the one
rule of `types.py` and arrays are cut into their own tables with vectorised kernels. Memory stays
bounded by the chunk size whatever the size of the report.

The fast path only converts what it can convert exactly. A chunk pyarrow refuses (a field that
changes from number to text inside it, a line that is not JSON) or whose values it cannot place
exactly (a number of 2**53 or more among fractions, which pyarrow may have rounded; a number
that must become text, whose JSON spelling a double has lost) is converted line by line by
`rows.LineConverter`, which also names the first bad line. Both therefore load the same columns,
types and values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from copilot_source.reports.arrow_layout import flatten_columns, split_tables, typed_keys, unwrap_day_rows
from copilot_source.reports.arrow_types import Fallback
from copilot_source.reports.duplicates import FirstCopies, Key
from copilot_source.reports.layout import LIST_INDEX
from copilot_source.reports.lines import Names
from copilot_source.reports.rows import LineConverter, Row, chunk_lines, convert_lines, rows_table
from copilot_source.reports.types import TOP_LEVEL_DATES, ColumnTypes

# parsing works on this much NDJSON at a time: a run's peak memory follows it (pyarrow's parser
# holds several times a chunk), its speed does not beyond a few MB (measured on two cores:
# 4 MB, 8 MB and 16 MB parse alike; the extract peaks at ~220, ~250 and ~320 MB)
CHUNK_BYTES = 4 << 20
# pyarrow splits a parse into blocks of 1 MB: a smaller chunk gains nothing from threads
THREADED_PARSE_BYTES = 1 << 20
# top-level fields pyarrow would guess to be timestamps: read as text, typed by the rule
_TEXT_FIELDS = (*sorted(TOP_LEVEL_DATES), "day_partition")


def release_memory() -> None:
    """Give the memory Arrow keeps for reuse back to the system: the load that follows a read
    (DuckDB, in the same process) needs it more."""
    pa.default_memory_pool().release_unused()


def read_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """Yield (number of the chunk's first line, whole lines of the file) of about `chunk_bytes`."""
    for first_line, chunk, _ in _counted_chunks(path, chunk_bytes):
        yield first_line, chunk


def _counted_chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[int, bytes, int]]:
    """`read_chunks` with the number of lines (newlines) of each chunk.

    A chunk ends at the last newline of a block read, and the next read starts right after it:
    the cut-off line is read again rather than glued to the next block (one copy fewer).
    """
    line = 1
    size = chunk_bytes
    with open(path, "rb") as file:
        while True:
            start = file.tell()
            block = file.read(size)
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                if len(block) == size:
                    # one line longer than a chunk: read it whole
                    file.seek(start)
                    size *= 2
                    continue
                if block.strip():
                    yield line, block + b"\n", 1  # the last line, without its newline
                return
            if cut < len(block):
                file.seek(start + cut)
            lines = block.count(b"\n", 0, cut)
            yield line, block[:cut] if cut < len(block) else block, lines
            line += lines
            size = chunk_bytes


# ---- parsing ---------------------------------------------------------------------------------


def _no_timestamps(data_type: pa.DataType) -> pa.DataType:
    """`data_type` with every timestamp pyarrow guessed read as the text it was."""
    if pa.types.is_timestamp(data_type):
        return pa.string()
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(_no_timestamps(f.type)) for f in data_type])
    if pa.types.is_list(data_type):
        return pa.list_(data_type.value_field.with_type(_no_timestamps(data_type.value_type)))
    return data_type


def _parse(chunk: bytes, schema: pa.Schema) -> pa.Table:
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    threads = pj.ReadOptions(use_threads=len(chunk) > THREADED_PARSE_BYTES)
    try:
        return pj.read_json(pa.BufferReader(pa.py_buffer(chunk)), read_options=threads, parse_options=options)
    except pa.ArrowInvalid as exc:
        if "straddling" not in str(exc):
            raise
    # a line longer than pyarrow's block (1 MB): the chunk as one block
    whole = pj.ReadOptions(use_threads=False, block_size=len(chunk) + 1)
    return pj.read_json(pa.BufferReader(pa.py_buffer(chunk)), read_options=whole, parse_options=options)


def parse_chunk(chunk: bytes) -> pa.Table:
    """Parse NDJSON; strings pyarrow would guess to be timestamps stay the text they were."""
    try:
        table = _parse(chunk, pa.schema([(name, pa.string()) for name in _TEXT_FIELDS]))
        exact = pa.schema([f.with_type(_no_timestamps(f.type)) for f in table.schema])
        if not exact.equals(table.schema):
            table = _parse(chunk, exact)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise Fallback(str(exc)) from None
    # an explicit field is a column even where no line has it: keep only what the data holds
    absent = [n for n in _TEXT_FIELDS if table.column(n).null_count == table.num_rows]
    return table.drop_columns(absent)


# ---- chunks of files -------------------------------------------------------------------------


@dataclass
class Piece:
    """Whole lines of one file of one report day."""

    data: bytes
    label: str
    first_line: int
    day: date
    lines: int


def _line_counts(pieces: Sequence[Piece], rows: int) -> list[int]:
    """Lines per piece, as pyarrow counts rows (blank lines are none); two objects on one line differ."""
    counts = [piece.lines for piece in pieces]
    if sum(counts) != rows:
        counts = [sum(1 for line in piece.data.split(b"\n") if line.strip()) for piece in pieces]
        if sum(counts) != rows:
            raise Fallback("a line holding more or less than one JSON value")
    return counts


def _key_groups(columns: dict[str, pa.ChunkedArray], keys: Sequence[str]) -> list[tuple[Key, list[Any]]]:
    """The rows' keys as (leading key, last key values) runs, in row order: one run for the usual
    chunk of one day and enterprise (the last key column alone becomes Python values)."""
    leading = [columns[k] for k in keys[:-1]]
    lasts = columns[keys[-1]]
    if all(pc.count_distinct(column).as_py() == 1 for column in leading):
        return [(tuple(column[0].as_py() for column in leading), lasts.to_pylist())]
    groups: list[tuple[Key, list[Any]]] = []
    for *head, last in zip(*(c.to_pylist() for c in leading), lasts.to_pylist(), strict=True):
        if not groups or groups[-1][0] != tuple(head):
            groups.append((tuple(head), []))
        groups[-1][1].append(last)
    if len({leading for leading, _ in groups}) < len(groups):
        raise Fallback("the lines of two enterprises or days take turns")  # the line by line path keeps order
    return groups


class ReportParser:
    """Report files in, tables out, in chunks of about `chunk_bytes` whatever the files' size.

    A small enterprise's report files are a few hundred KB: parsed one by one, the fixed cost of
    each parse and table cut dominates. Lines of consecutive files (and days) are therefore parsed
    together; a file is fully read when `add` returns, so the caller may delete it.
    """

    def __init__(
        self,
        table_name: str,
        keys: Sequence[str],
        types: ColumnTypes | None = None,
        names: Names | None = None,
        copies: FirstCopies | None = None,
        chunk_bytes: int | None = None,
    ) -> None:
        self.table_name = table_name
        self.keys = tuple(keys)
        self.types = types or ColumnTypes()
        self.names = names or Names()
        self.copies = copies or FirstCopies()
        self.chunk_bytes = chunk_bytes or CHUNK_BYTES
        self.python = LineConverter(table_name, keys, self.types, self.names, self.copies)
        self._pieces: list[Piece] = []
        self._size = 0
        # the days of the lines the tables being yielded come from
        self.flushing_days: frozenset[date] = frozenset()

    @property
    def pending_days(self) -> frozenset[date]:
        """Days with lines read but not yet turned into tables."""
        return frozenset(piece.day for piece in self._pieces)

    def add(self, path: Path, label: str, day: date) -> Iterator[tuple[str, pa.Table]]:
        for first_line, chunk, lines in _counted_chunks(path, self.chunk_bytes):
            if self._pieces and self._size + len(chunk) > self.chunk_bytes:
                yield from self.flush()  # joined, the lines would exceed a chunk
            self._pieces.append(Piece(chunk, label, first_line, day, lines))
            self._size += len(chunk)
            if self._size >= self.chunk_bytes:
                yield from self.flush()

    def flush(self) -> Iterator[tuple[str, pa.Table]]:
        """Tables of the lines read so far; a bad line raises `ReportDataError` naming its file."""
        pieces, self._pieces, self._size = self._pieces, [], 0
        if not pieces:
            return
        self.flushing_days = frozenset(piece.day for piece in pieces)
        try:
            yield from self._fast(pieces)
        except Fallback:
            # a bad line, or a field whose JSON type differs between files: piece by piece
            for piece in pieces:
                try:
                    yield from self._fast([piece])
                except Fallback:
                    yield from self._slow(piece)
        self.copies.forget_before(pieces[-1].day)

    def _fast(self, pieces: Sequence[Piece]) -> list[tuple[str, pa.Table]]:
        """The tables of `pieces` by Arrow, or `Fallback` with nothing changed."""
        before = self.types.snapshot()
        try:
            return self._convert(pieces)
        except Fallback:
            self.types.restore(before)
            raise

    def _convert(self, pieces: Sequence[Piece]) -> list[tuple[str, pa.Table]]:
        parsed = parse_chunk(pieces[0].data if len(pieces) == 1 else b"".join(p.data for p in pieces))
        counts = _line_counts(pieces, parsed.num_rows)
        table, lines = unwrap_day_rows(parsed)
        if table.num_rows == 0:
            return []
        columns = flatten_columns(table, self.names)
        typed_keys(self.types, self.table_name, columns, self.keys)
        if "day" in self.keys:
            days = pa.concat_arrays(
                [pa.repeat(pa.scalar(p.day, pa.date32()), n) for p, n in zip(pieces, counts, strict=True)]
            )
            if not pc.all(pc.equal(columns["day"], pc.take(days, lines))).as_py():
                raise Fallback("a line for another day")
        groups = _key_groups(columns, self.keys)
        firsts = [first for leading, lasts in groups for first in self.copies.first_of(leading, lasts)]
        if not all(firsts):
            mask = pa.array(firsts)
            columns = {name: column.filter(mask) for name, column in columns.items()}
        tables = list(split_tables(self.types, self.table_name, columns, self.keys, self.names))
        done = 0
        for leading, lasts in groups:
            self.copies.commit(leading, lasts, firsts[done : done + len(lasts)])
            done += len(lasts)
        return tables

    def _slow(self, piece: Piece) -> Iterator[tuple[str, pa.Table]]:
        """A piece line by line in plain Python; a bad line raises `ReportDataError`."""
        rows: dict[str, list[Row]] = {}
        for table, row in convert_lines(self.python, chunk_lines(piece.data, piece.first_line), piece.label, piece.day):
            rows.setdefault(table, []).append(row)
        for table, table_rows in rows.items():
            keys = self.keys if table == self.table_name else (*self.keys, LIST_INDEX)
            yield table, rows_table(self.types, table, table_rows, keys)
