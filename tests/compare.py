"""Compare what two pipelines hold: every data table row for row, and the source's state."""

from __future__ import annotations

import copy
from typing import Any

import dlt

from tests.conftest import rows


def data_tables(pipeline: dlt.Pipeline) -> list[str]:
    return sorted(t for t in pipeline.default_schema.data_table_names() if not t.startswith("_dlt"))


def table_content(pipeline: dlt.Pipeline, table: str) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    """Column types and sorted rows of a table, without dlt's own columns (ids, load ids, validity)."""
    described = {r[0]: r[1] for r in rows(pipeline, f"DESCRIBE {table}") if not r[0].startswith("_dlt")}
    columns = sorted(described)
    listed = ", ".join(f'"{c}"' for c in columns)
    content = rows(pipeline, f"SELECT {listed} FROM {table} ORDER BY {listed}")
    return described, content


def all_tables(pipeline: dlt.Pipeline) -> dict[str, tuple[dict[str, str], list[tuple[Any, ...]]]]:
    return {table: table_content(pipeline, table) for table in data_tables(pipeline)}


def source_state(pipeline: dlt.Pipeline) -> dict[str, Any]:
    """What the resources remember for the next run: cursors, holes, first and newest day.

    Leaves out dlt's `start_value`, which records where the last run began, not what it loaded.
    """
    state: dict[str, Any] = copy.deepcopy(pipeline.state["sources"]["copilot"]["resources"])
    for resource in state.values():
        for cursor in resource.get("incremental", {}).values():
            cursor.pop("start_value", None)
    return state


def newest_day(pipeline: dlt.Pipeline, table: str = "users_1_day") -> str | None:
    """The newest day a report resource recorded as complete (for its one enterprise)."""
    entities = pipeline.state["sources"]["copilot"]["resources"][table]["entities"]
    (record,) = entities.values()
    return record.get("newest_day")  # type: ignore[no-any-return]


Snapshot = tuple[dict[str, tuple[dict[str, str], list[tuple[Any, ...]]]], dict[str, Any]]


def snapshot(pipeline: dlt.Pipeline) -> Snapshot:
    """Every data table (types and rows) and the source's state, to compare with later."""
    return all_tables(pipeline), source_state(pipeline)


def assert_same_data(got: dlt.Pipeline, expected: dlt.Pipeline | Snapshot) -> None:
    """Same tables, same column types, same rows, same cursors: as if nothing had gone wrong."""
    expected_tables, expected_state = expected if isinstance(expected, tuple) else snapshot(expected)
    got_tables = all_tables(got)
    assert sorted(got_tables) == sorted(expected_tables)
    for table, (types, content) in expected_tables.items():
        assert content, f"{table} is empty in the reference run"
        assert got_tables[table][0] == types, table
        missing = sorted(set(content) - set(got_tables[table][1]), key=repr)[:3]
        extra = sorted(set(got_tables[table][1]) - set(content), key=repr)[:3]
        assert got_tables[table][1] == content, (
            f"{table}: {len(got_tables[table][1])} rows, expected {len(content)}; missing {missing}, unexpected {extra}"
        )
    assert source_state(got) == expected_state
