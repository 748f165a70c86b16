"""DuckDB alone: `read_json` of the report files and `unnest` of their arrays into our tables.

The yardstick for the source's speed: the same files into the same tables (a root table with
nested objects as `__` columns, one table per array with the line's keys and `list_index`),
done the fastest way DuckDB knows, in one process and with no Python in the data path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import duckdb
from duckdb.sqltypes import DuckDBPyType

ROOT = "users_1_day"
KEYS = ("day", "enterprise_id", "user_id")


def _columns(expression: str, name: str, kind: DuckDBPyType) -> Iterator[str]:
    """Select expressions that flatten structs into `parent__child` columns."""
    if kind.id == "struct":
        for child, child_kind in kind.children:
            assert isinstance(child_kind, DuckDBPyType)
            yield from _columns(f'{expression}."{child}"', f"{name}__{child}" if name else child, child_kind)
    elif kind.id == "timestamp":
        yield f'{expression}::TIMESTAMPTZ AS "{name}"'
    else:
        yield f'{expression} AS "{name}"'


def ingest(con: duckdb.DuckDBPyConnection, files: Sequence[str], schema: str) -> None:
    """Parse the files once into a temporary table, then write the root and one table per array."""
    listed = ", ".join(f"'{f}'" for f in files)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(
        f"CREATE TEMP TABLE raw AS SELECT * FROM read_json([{listed}], format='newline_delimited', union_by_name=true)"
    )
    described = con.table("raw")
    fields = list(zip(described.columns, described.types, strict=True))
    arrays = [(name, kind) for name, kind in fields if kind.id == "list"]
    scalars = [c for name, kind in fields if kind.id != "list" for c in _columns(f'"{name}"', name, kind)]
    con.execute(f"CREATE TABLE {schema}.{ROOT} AS SELECT {', '.join(scalars)} FROM raw")
    keys = ", ".join(KEYS)
    for name, kind in arrays:
        element = kind.child
        flattened = ", ".join(_columns("element", "", element) if element.id == "struct" else ['element AS "value"'])
        con.execute(
            f"CREATE TABLE {schema}.{ROOT}__{name} AS SELECT {keys}, list_index, {flattened} FROM"
            f' (SELECT {keys}, unnest("{name}") AS element, generate_subscripts("{name}", 1) - 1 AS list_index'
            " FROM raw)"
        )
    con.execute("DROP TABLE raw")
