"""Report files to Arrow tables, in chunks: the fast path.

pyarrow's JSON reader parses a chunk of NDJSON in C++ on all cores; arrays are cut into their
own tables with vectorised list kernels. Memory stays bounded by the chunk size whatever the
size of the report. `python_reports.py` does the same in plain Python and is the reference the
tests hold this module to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from copilot_source.reports.layout import (
    DATE_FIELDS,
    DAY_ROWS,
    LIST_INDEX,
    SEPARATOR,
    bad_line_error,
    child_table,
    field_kind,
)

# parsing works on this much NDJSON at a time: a run's peak memory follows it (pyarrow's parser
# holds several times a chunk), its speed does not beyond a few MB (measured on two cores:
# 4 MB, 8 MB and 16 MB parse alike; the extract peaks at ~220, ~250 and ~320 MB)
CHUNK_BYTES = 4 << 20
# pyarrow splits a parse into blocks of 1 MB: a smaller chunk gains nothing from threads
THREADED_PARSE_BYTES = 1 << 20
# top-level fields that are dates or internal partition dates: read as text, typed by name later
_TEXT_FIELDS = (*sorted(DATE_FIELDS), "day_partition")
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")


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


def find_bad_line(chunk: bytes, first_line: int, keys: Sequence[str]) -> tuple[int, str]:
    """The first line of `chunk` that is not JSON or lacks a key field (slow; only on failure)."""
    for offset, raw in enumerate(chunk.split(b"\n")):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            return first_line + offset, f"is not valid JSON ({exc.msg})"
        except ValueError:
            return first_line + offset, "is not valid UTF-8 JSON"
        if not isinstance(record, dict):
            return first_line + offset, "is not a JSON object"
        day_rows = record.get(DAY_ROWS)
        rows: list[object] = day_rows if isinstance(day_rows, list) else [record]
        for row in rows:
            merged = {**record, **row} if isinstance(row, dict) else record
            missing = [k for k in keys if merged.get(k) is None]
            if missing:
                return first_line + offset, f"lacks {', '.join(missing)}"
    return first_line, "could not be read"


def _parse(chunk: bytes, text_fields: Sequence[str]) -> pa.Table:
    schema = pa.schema([(name, pa.string()) for name in text_fields])
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
    """Parse NDJSON; strings pyarrow would guess to be timestamps stay text unless known as such."""
    table = _parse(chunk, _TEXT_FIELDS)
    guessed = [f.name for f in table.schema if pa.types.is_timestamp(f.type) and field_kind(f.name) != "timestamp"]
    if guessed:
        table = _parse(chunk, (*_TEXT_FIELDS, *guessed))
    # an explicit field is a column even where no line has it: keep only what the data holds
    absent = [n for n in _TEXT_FIELDS if table.column(n).null_count == table.num_rows]
    return table.drop_columns(absent)


def unwrap_day_rows(table: pa.Table) -> pa.Table:
    """A wrapper line holds its day rows in `day_totals[]`: one row each, wrapper fields added."""
    if DAY_ROWS not in table.column_names:
        return table
    rows = table.column(DAY_ROWS).combine_chunks()
    values = pc.list_flatten(rows)
    if not pa.types.is_struct(values.type):
        return table.drop_columns([DAY_ROWS]).slice(0, 0)
    parents = pc.list_parent_indices(rows)
    days = pa.Table.from_arrays(values.flatten(), names=[f.name for f in values.type])
    for name in table.column_names:
        if name != DAY_ROWS and name not in days.column_names:
            days = days.append_column(name, pc.take(table.column(name), parents))
    return days


def _flatten_structs(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table.rename_columns([name.replace(".", SEPARATOR) for name in table.column_names])


def _cast(column: pa.ChunkedArray, kind: str) -> pa.ChunkedArray:
    target = {"date": pa.date32(), "timestamp": TIMESTAMP_TYPE, "double": pa.float64()}[kind]
    if column.type == target or pa.types.is_null(column.type):
        return column
    try:
        return pc.cast(column, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return column  # unparseable values keep their JSON type rather than fail a load


def _typed(table: pa.Table) -> pa.Table:
    for index, name in enumerate(table.column_names):
        kind = field_kind(name)
        if kind:
            table = table.set_column(index, name, _cast(table.column(index), kind))
    return table


def _is_list(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_list(data_type) or pa.types.is_large_list(data_type))


def _required(table: pa.Table, names: Sequence[str]) -> pa.Table:
    """Declare key columns non-nullable, as dlt declares primary keys (they hold no nulls)."""
    fields = [f.with_nullable(False) if f.name in names else f for f in table.schema]
    # only the schema changes: no cast, which would visit every column
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def split_tables(table: pa.Table, name: str, keys: Sequence[str]) -> Iterator[tuple[str, pa.Table]]:
    """The root rows, then one table per array column holding its elements and the row keys."""
    table = _typed(_flatten_structs(table))
    arrays = [f.name for f in table.schema if _is_list(f.type)]
    root = _required(table.drop_columns(arrays), keys)
    yield name, root
    for column in arrays:
        lists = table.column(column).combine_chunks()
        values = pc.list_flatten(lists)
        if len(values) == 0 or pa.types.is_null(values.type):
            continue
        parents = pc.list_parent_indices(lists)
        if pa.types.is_struct(values.type):
            elements = pa.Table.from_arrays(values.flatten(), names=[f.name for f in values.type])
        else:
            elements = pa.table({"value": values})
        columns: dict[str, pa.Array] = {k: pc.take(root.column(k), parents) for k in keys}
        # an element's position in its array: its running number (from 1) minus its list's start + 1
        starts = pc.take(lists.offsets, parents).cast(pa.int64())
        numbers = pc.cumulative_sum(pc.fill_null(pa.nulls(len(values), pa.int64()), 1))
        columns[LIST_INDEX] = pc.subtract(numbers, pc.add(starts, 1))
        for element_column in elements.column_names:
            if element_column not in columns:
                columns[element_column] = elements.column(element_column)
        path = tuple(column.split(SEPARATOR))
        elements_table = _typed(_flatten_structs(pa.table(columns)))
        yield child_table(name, path), _required(elements_table, (*keys, LIST_INDEX))


def _check_keys(table: pa.Table, keys: Sequence[str]) -> bool:
    return all(k in table.column_names and int(table.column(k).null_count) == 0 for k in keys)


def _rows(chunk: bytes, keys: Sequence[str]) -> pa.Table | None:
    """The rows of a chunk of lines; None when a line is not JSON or lacks a key field."""
    try:
        table = unwrap_day_rows(parse_chunk(chunk))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows and not _check_keys(table, keys):
        return None
    return table


class ReportParser:
    """Report files in, tables out, in chunks of about `chunk_bytes` whatever the files' size.

    A small enterprise's report files are a few hundred KB: parsed one by one, the fixed cost of
    each parse and table cut dominates. Lines of consecutive files (and days) are therefore parsed
    together; a file is fully read when `add` returns, so the caller may delete it.
    """

    def __init__(self, table_name: str, keys: Sequence[str], chunk_bytes: int | None = None) -> None:
        self.table_name = table_name
        self.keys = keys
        self.chunk_bytes = chunk_bytes or CHUNK_BYTES
        # (whole lines, label of their file, number of their first line in that file)
        self._pieces: list[tuple[bytes, str, int]] = []
        self._size = 0

    def add(self, path: Path, label: str) -> Iterator[tuple[str, pa.Table]]:
        for first_line, chunk in read_chunks(path, self.chunk_bytes):
            if self._pieces and self._size + len(chunk) > self.chunk_bytes:
                yield from self.flush()  # joined, the lines would exceed a chunk
            self._pieces.append((chunk, label, first_line))
            self._size += len(chunk)
            if self._size >= self.chunk_bytes:
                yield from self.flush()

    def flush(self) -> Iterator[tuple[str, pa.Table]]:
        """Tables of the lines read so far; a bad line raises `ReportDataError` naming its file."""
        pieces, self._pieces, self._size = self._pieces, [], 0
        if len(pieces) > 1:
            table = _rows(b"".join(piece for piece, _, _ in pieces), self.keys)
            if table is not None:
                yield from self._split(table)
                return
            # a bad line, or a field whose JSON type differs between files: piece by piece
        for piece, label, first_line in pieces:
            table = _rows(piece, self.keys)
            if table is None:
                raise bad_line_error(label, *find_bad_line(piece, first_line, self.keys))
            yield from self._split(table)

    def _split(self, table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
        if table.num_rows:
            yield from split_tables(table, self.table_name, self.keys)
