"""Report files to Arrow tables, in chunks: the fast path.

pyarrow's JSON reader parses a chunk of NDJSON in C++ on all cores; values are typed by the one
rule of `types.py` and arrays are cut into their own tables with vectorised kernels. Memory stays
bounded by the chunk size whatever the size of the report.

The fast path only converts what it can convert exactly. A chunk pyarrow refuses (a field that
changes from number to text inside it, a line that is not JSON) or whose values it cannot place
exactly (an integer of 16 digits or more, which pyarrow may round; a number that must become
text, whose JSON spelling a double has lost) is converted line by line by `rows.LineConverter`,
which also names the first bad line. Both therefore load the same columns, types and values.
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

from copilot_source.reports.duplicates import FirstCopies
from copilot_source.reports.layout import DAY_ROWS, LIST_INDEX, SEPARATOR, child_table
from copilot_source.reports.lines import LineProblem, Names
from copilot_source.reports.rows import (
    ARROW_TYPES,
    ELEMENT_VALUE,
    LineConverter,
    Row,
    chunk_lines,
    convert_lines,
    rows_table,
)
from copilot_source.reports.types import (
    BIGINT,
    BOOL,
    DATE,
    DATE_PATTERN,
    DOUBLE,
    TEXT,
    TIMESTAMP,
    TIMESTAMP_PATTERN,
    TOP_LEVEL_DATES,
    ColumnTypes,
    parse_date,
    parse_timestamp,
    variant_column,
)

# parsing works on this much NDJSON at a time: a run's peak memory follows it (pyarrow's parser
# holds several times a chunk), its speed does not beyond a few MB (measured on two cores:
# 4 MB, 8 MB and 16 MB parse alike; the extract peaks at ~220, ~250 and ~320 MB)
CHUNK_BYTES = 4 << 20
# pyarrow splits a parse into blocks of 1 MB: a smaller chunk gains nothing from threads
THREADED_PARSE_BYTES = 1 << 20
# top-level fields pyarrow would guess to be timestamps: read as text, typed by the rule
_TEXT_FIELDS = (*sorted(TOP_LEVEL_DATES), "day_partition")
# integers of this many digits may exceed 2**53: pyarrow reads some of them as doubles
_LONG_INTEGER = b"0" * 16
_DIGITS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_FRACTION_BEYOND_MICROSECONDS = r"(\.\d{6})\d+"


class Fallback(Exception):
    """The fast path cannot convert this chunk exactly; the plain-Python path will."""


def release_memory() -> None:
    """Give the memory Arrow keeps for reuse back to the system: the load that follows a read
    (DuckDB, in the same process) needs it more."""
    pa.default_memory_pool().release_unused()


def read_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """Yield (number of the chunk's first line, whole lines of the file) of about `chunk_bytes`.

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
                    yield line, block + b"\n"  # the last line, without its newline
                return
            if cut < len(block):
                file.seek(start + cut)
            yield line, block[:cut] if cut < len(block) else block
            line += block.count(b"\n", 0, cut)
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
    return pj.read_json(pa.BufferReader(pa.py_buffer(chunk)), read_options=threads, parse_options=options)


def parse_chunk(chunk: bytes) -> pa.Table:
    """Parse NDJSON; strings pyarrow would guess to be timestamps stay the text they were."""
    if chunk.translate(_DIGITS).find(_LONG_INTEGER) >= 0:
        raise Fallback("an integer of 16 digits or more")
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


def unwrap_day_rows(table: pa.Table) -> tuple[pa.Table, pa.Array]:
    """The day rows of the lines, and the line each came from (see `lines.day_rows`)."""
    lines = pa.array(range(table.num_rows), pa.int64())
    if DAY_ROWS not in table.column_names:
        return table, lines
    rows = table.column(DAY_ROWS).combine_chunks()
    if not _is_list(rows.type):
        return table, lines
    values = pc.list_flatten(rows)
    flat = pc.is_null(rows)
    if len(values) and not pa.types.is_struct(values.type):
        raise Fallback("day rows that are not objects")
    parents = pc.list_parent_indices(rows)
    outer = table.drop_columns([DAY_ROWS])
    parts = []
    if len(values):
        days = pa.Table.from_arrays(values.flatten(), names=[f.name for f in values.type])
        if days.num_rows and pc.any(pc.is_null(values)).as_py():
            raise Fallback("a day row that is null")
        for name in outer.column_names:
            wrapper = pc.take(outer.column(name), parents)
            if name not in days.column_names:
                days = days.append_column(name, wrapper)
            elif not pa.types.is_null(wrapper.type):
                own = days.column(name)
                if pa.types.is_null(own.type):
                    merged = wrapper
                elif own.type == wrapper.type:
                    merged = pc.coalesce(own, wrapper)
                else:
                    raise Fallback(f"{name} differs in type between a wrapper and its day rows")
                days = days.set_column(days.column_names.index(name), name, merged)
        parts.append((days, parents))
    if pc.any(flat).as_py():
        kept = pc.indices_nonzero(flat)
        parts.append((outer.take(kept), kept))
    if not parts:
        return outer.slice(0, 0), lines.slice(0, 0)
    if len(parts) == 1:
        return parts[0][0], parts[0][1].cast(pa.int64())
    # both shapes in one chunk: every row in the order of its line
    try:
        joined = pa.concat_tables([part for part, _ in parts], promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise Fallback(str(exc)) from None
    origin = pa.concat_arrays([p.cast(pa.int64()) for _, p in parts])
    order = pc.sort_indices(origin)  # stable: a wrapper's day rows keep their order
    return joined.take(order), origin.take(order)


# ---- names and types -------------------------------------------------------------------------


def _is_list(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_list(data_type) or pa.types.is_large_list(data_type))


def flatten_columns(table: pa.Table, names: Names) -> dict[str, pa.ChunkedArray]:
    """Columns named as the plain-Python path names them; objects become `a__b` columns."""
    columns: dict[str, pa.ChunkedArray] = {}

    def add(name: str, column: pa.ChunkedArray) -> None:
        if name in columns:
            raise Fallback(f"two fields load into {name}")
        if pa.types.is_struct(column.type):
            for field, child in zip(column.type, column.flatten(), strict=True):
                add(name + SEPARATOR + names(field.name), child)
        else:
            columns[name] = column

    try:
        for field, column in zip(table.schema, table.columns, strict=True):
            add(names(field.name), column)
    except LineProblem as problem:
        raise Fallback(problem.what) from None
    return columns


_KINDS = {"int": BIGINT, "float": DOUBLE, "bool": BOOL, "str": TEXT}


def _kind(data_type: pa.DataType) -> str:
    if pa.types.is_null(data_type):
        return "null"
    if pa.types.is_integer(data_type):
        return "int"
    if pa.types.is_floating(data_type):
        return "float"
    if pa.types.is_boolean(data_type):
        return "bool"
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return "str"
    raise Fallback(f"values of type {data_type}")


@dataclass
class _Fitted:
    """A column converted to its type, and which of its values do not fit (None: all fit)."""

    values: pa.ChunkedArray | None
    misfits: pa.ChunkedArray | None


def _all_misfit(column: pa.ChunkedArray) -> _Fitted:
    return _Fitted(None, pc.is_valid(column))


def _parsed(column: pa.ChunkedArray, target: pa.DataType, pattern: str, parse: Any) -> _Fitted:
    """Strings to dates or timestamps: the forms `types.parse_*` accept; the rest do not fit."""
    fits = pc.fill_null(pc.match_substring_regex(column, pattern), False)
    candidates = pc.if_else(fits, column, pa.scalar(None, pa.string()))
    try:
        if target == ARROW_TYPES[TIMESTAMP]:
            candidates = pc.replace_substring_regex(candidates, _FRACTION_BEYOND_MICROSECONDS, r"\1")
        values = pc.cast(candidates, target)
        if values.null_count < len(values):
            # a zone may move a moment outside the years 1 to 9999, which Python refuses: raises
            bounds = pc.min_max(values)
            bounds["min"].as_py(), bounds["max"].as_py()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError):
        # a value of the right form but no such day (2026-02-30): value by value, as Python does
        parsed = [None if v is None else parse(v) for v in column.to_pylist()]
        values = pa.chunked_array([pa.array(parsed, target)])
        fits = pc.is_valid(values)
    misfits = pc.and_(pc.is_valid(column), pc.invert(fits))
    return _Fitted(values, misfits if pc.any(misfits).as_py() else None)


def _fit(column: pa.ChunkedArray, kind: str, column_type: str) -> _Fitted:
    """`types.fit` for a whole column of one JSON kind."""
    if kind == "float" and not pc.all(pc.is_finite(column)).as_py():
        raise Fallback("NaN or Infinity, which JSON does not have")  # pyarrow reads them; Python refuses
    if kind == "float" and column_type not in (BIGINT, DOUBLE):
        # JSON's 1 and 1.0 both became 1.0: which variant or text a value gets is unknown here
        raise Fallback(f"a fraction column where {column_type} is expected")
    if column_type == TEXT:
        return _Fitted(column if kind == "str" else pc.cast(column, pa.string()), None)
    if column_type == BIGINT:
        if kind == "int":
            return _Fitted(column, None)
        if kind == "float":
            whole = pc.and_(
                pc.equal(pc.floor(column), column),
                pc.and_(pc.greater_equal(column, -(2.0**63)), pc.less(column, 2.0**63)),
            )
            whole = pc.fill_null(whole, True)
            kept = pc.if_else(whole, column, pa.scalar(None, pa.float64()))
            misfits = pc.invert(whole)
            return _Fitted(pc.cast(kept, pa.int64()), misfits if pc.any(misfits).as_py() else None)
        return _all_misfit(column)
    if column_type == DOUBLE:
        if kind in ("int", "float"):
            # integers of 15 digits at most reach the fast path: every one is exact as a double
            return _Fitted(pc.cast(column, pa.float64()), None)
        return _all_misfit(column)
    if column_type == BOOL:
        return _Fitted(column, None) if kind == "bool" else _all_misfit(column)
    if column_type == DATE and kind == "str":
        return _parsed(column, ARROW_TYPES[DATE], DATE_PATTERN, parse_date)
    if column_type == TIMESTAMP and kind == "str":
        return _parsed(column, ARROW_TYPES[TIMESTAMP], TIMESTAMP_PATTERN, parse_timestamp)
    return _all_misfit(column)


def conform(types: ColumnTypes, table: str, name: str, column: pa.ChunkedArray) -> list[tuple[str, pa.ChunkedArray]]:
    """The column (and variant columns) a parsed column of `table` loads into, typed by the rule."""
    kind = _kind(column.type)
    if kind == "null" or column.null_count == len(column):
        return []
    column_type = types.decide(table, name, _KINDS[kind] if kind != "int" else DOUBLE)
    fitted = _fit(column, kind, column_type)
    placed = []
    if fitted.values is not None and fitted.values.null_count < len(fitted.values):
        placed.append((name, fitted.values))
    if fitted.misfits is not None:
        rest = pc.if_else(fitted.misfits, column, pa.scalar(None, column.type))
        placed.extend(conform(types, table, variant_column(name, _KINDS[kind]), rest))
    return placed


def _typed_keys(types: ColumnTypes, table: str, columns: dict[str, pa.ChunkedArray], keys: Sequence[str]) -> None:
    """Key columns in place, typed; any key absent or not of its column's type: Python decides."""
    for key in keys:
        column = columns.get(key)
        if column is None or column.null_count:
            raise Fallback(f"a line without {key}")
        placed = conform(types, table, key, column)
        if len(placed) != 1 or placed[0][1].null_count:
            raise Fallback(f"a {key} that does not fit its column")
        columns[key] = placed[0][1]


def _typed_table(types: ColumnTypes, table: str, columns: dict[str, pa.ChunkedArray], keys: Sequence[str]) -> pa.Table:
    placed: dict[str, pa.ChunkedArray] = {}
    for name, column in columns.items():
        if name in keys:
            placed[name] = column
            types.decide(table, name, TEXT)
            continue
        for column_name, values in conform(types, table, name, column):
            if column_name in placed:
                raise Fallback(f"a field named like the variant column {column_name}")
            placed[column_name] = values
    fields = [pa.field(n, c.type, nullable=n not in keys) for n, c in placed.items()]
    # only the schema changes: no cast, which would visit every column
    return pa.Table.from_arrays(list(placed.values()), schema=pa.schema(fields))


def _elements(
    types: ColumnTypes, child: str, lists: pa.Array, root: dict[str, pa.ChunkedArray], keys: Sequence[str], names: Names
) -> pa.Table | None:
    """The table of one array column: its non-null elements, their row keys and positions."""
    values = pc.list_flatten(lists)
    if len(values) == 0 or pa.types.is_null(values.type):
        return None
    parents = pc.list_parent_indices(lists)
    # an element's position in its array: its running number (from 1) minus its list's start + 1
    starts = pc.take(lists.offsets, parents).cast(pa.int64())
    numbers = pc.cumulative_sum(pc.fill_null(pa.nulls(len(values), pa.int64()), 1))
    positions = pc.subtract(numbers, pc.add(starts, 1))
    present = pc.is_valid(values)
    if not pc.all(present).as_py():
        values, parents, positions = values.filter(present), parents.filter(present), positions.filter(present)
        if len(values) == 0:
            return None
    if _is_list(values.type):
        raise Fallback("an array of arrays")
    if pa.types.is_struct(values.type):
        fields = pa.Table.from_arrays(values.flatten(), names=[f.name for f in values.type])
        element_columns = flatten_columns(fields, names)
    else:
        element_columns = {ELEMENT_VALUE: pa.chunked_array([values])}
    columns: dict[str, pa.ChunkedArray] = {k: pc.take(root[k], parents) for k in keys}
    columns[LIST_INDEX] = pa.chunked_array([positions])
    for name, column in element_columns.items():
        if name in columns:
            raise Fallback(f"an element field named like the key column {name}")
        if _is_list(column.type):
            raise Fallback("an array inside an array element")
        columns[name] = column
    return _typed_table(types, child, columns, (*keys, LIST_INDEX))


def split_tables(
    types: ColumnTypes, name: str, columns: dict[str, pa.ChunkedArray], keys: Sequence[str], names: Names
) -> Iterator[tuple[str, pa.Table]]:
    """The root rows, then one table per array column holding its elements and the row keys."""
    arrays = [n for n, c in columns.items() if _is_list(c.type)]
    scalars = {n: c for n, c in columns.items() if n not in arrays}
    root = _typed_table(types, name, scalars, keys)
    tables = [(name, root)]
    key_columns = {k: root.column(k) for k in keys}
    for column in arrays:
        child = child_table(name, tuple(column.split(SEPARATOR)))
        elements = _elements(types, child, columns[column].combine_chunks(), key_columns, keys, names)
        if elements is not None:
            tables.append((child, elements))
    yield from tables


# ---- chunks of files -------------------------------------------------------------------------


@dataclass
class Piece:
    """Whole lines of one file of one report day."""

    data: bytes
    label: str
    first_line: int
    day: date


def _line_counts(pieces: Sequence[Piece], rows: int) -> list[int]:
    """Lines per piece, as pyarrow counts rows (blank lines are none); two objects on one line differ."""
    counts = [piece.data.count(b"\n") for piece in pieces]
    if sum(counts) != rows:
        counts = [sum(1 for line in piece.data.split(b"\n") if line.strip()) for piece in pieces]
        if sum(counts) != rows:
            raise Fallback("a line holding more or less than one JSON value")
    return counts


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
        for first_line, chunk in read_chunks(path, self.chunk_bytes):
            if self._pieces and self._size + len(chunk) > self.chunk_bytes:
                yield from self.flush()  # joined, the lines would exceed a chunk
            self._pieces.append(Piece(chunk, label, first_line, day))
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
        _typed_keys(self.types, self.table_name, columns, self.keys)
        if "day" in self.keys:
            days = pa.array([p.day for p, n in zip(pieces, counts, strict=True) for _ in range(n)], pa.date32())
            if not pc.all(pc.equal(columns["day"], pc.take(days, lines))).as_py():
                raise Fallback("a line for another day")
        keys = list(zip(*(columns[k].to_pylist() for k in self.keys), strict=True))
        firsts = self.copies.first_of(keys)
        if not all(firsts):
            mask = pa.array(firsts)
            columns = {name: column.filter(mask) for name, column in columns.items()}
        tables = list(split_tables(self.types, self.table_name, columns, self.keys, self.names))
        self.copies.commit(keys, firsts)
        return tables

    def _slow(self, piece: Piece) -> Iterator[tuple[str, pa.Table]]:
        """A piece line by line in plain Python; a bad line raises `ReportDataError`."""
        rows: dict[str, list[Row]] = {}
        for table, row in convert_lines(self.python, chunk_lines(piece.data, piece.first_line), piece.label, piece.day):
            rows.setdefault(table, []).append(row)
        for table, table_rows in rows.items():
            keys = self.keys if table == self.table_name else (*self.keys, LIST_INDEX)
            yield table, rows_table(self.types, table, table_rows, keys)
