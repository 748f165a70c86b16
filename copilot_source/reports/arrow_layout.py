"""Parsed chunks to the tables of a report, the fast path's side of `layout.py`.

Wrapper lines become their day rows, objects become `a__b` columns named as dlt names them,
and every array column becomes the table of its elements, each with the row's key columns and
`list_index`. Values are typed on the way (`arrow_types.conform`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from copilot_source.reports.arrow_types import Fallback, conform
from copilot_source.reports.layout import DAY_ROWS, LIST_INDEX, SEPARATOR, child_table
from copilot_source.reports.lines import LineProblem, Names
from copilot_source.reports.rows import ELEMENT_VALUE
from copilot_source.reports.types import TEXT, ColumnTypes


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
                    try:
                        merged = pc.coalesce(own, wrapper)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                        raise Fallback(str(exc)) from None
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


def typed_keys(types: ColumnTypes, table: str, columns: dict[str, pa.ChunkedArray], keys: Sequence[str]) -> None:
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
