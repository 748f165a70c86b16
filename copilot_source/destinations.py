"""Fit the tables' write dispositions to the destination, so every destination holds the same rows.

Report tables and `seat_activity` replace a re-read day with dlt's `cdc` merge, the day being the
merge key. Delta tables (the filesystem destination) accept no merge key with `cdc`: there the
days a run re-reads become the merge's `destination_scope`. `seats` keeps its history with `scd2`
where the destination has it; elsewhere (Delta) it holds the current assignments, replaced on
every run. Plain files cannot merge at all: dlt would append, duplicating every re-read day, so
the source refuses to load them. Called from inside the resources, where the pipeline and its
destination are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import dlt
from dlt.common import logger
from dlt.common.configuration.container import Container
from dlt.common.destination import DestinationCapabilitiesContext
from dlt.common.pipeline import PipelineContext
from dlt.common.schema.typing import TTableFormat, TTableSchema, TWriteDispositionConfig

from copilot_source.config import config_key
from copilot_source.errors import ConfigurationError

# the merge that replaces a re-read day (see `reports.MERGE`)
DAY_MERGE = "cdc"
SEAT_HISTORY_STRATEGY = "scd2"
SEAT_SNAPSHOT: TWriteDispositionConfig = "replace"


def _destination_capabilities() -> tuple[str, DestinationCapabilitiesContext] | None:
    """Name and capabilities of the running pipeline's destination; None before one is known."""
    context = Container()[PipelineContext]
    if not context.is_active():
        return None
    destination = context.pipeline().destination
    if destination is None:
        return None
    return destination.destination_name, destination.capabilities()


def merge_strategies(capabilities: DestinationCapabilitiesContext, table_format: TTableFormat | None) -> Sequence[str]:
    """The merge strategies a destination offers a table stored in `table_format`."""
    strategies = capabilities.supported_merge_strategies or []
    if capabilities.merge_strategies_selector:
        table: TTableSchema = {"name": "copilot", "table_format": table_format} if table_format else {"name": "copilot"}
        strategies = capabilities.merge_strategies_selector(strategies, table_schema=table)
    return list(strategies)


def check_destination(
    table_format: TTableFormat | None, found: tuple[str, DestinationCapabilitiesContext] | None = None
) -> None:
    """Refuse a destination that would duplicate re-read days (or ignore `table_format`)."""
    found = found or _destination_capabilities()
    if found is None:
        return
    name, capabilities = found
    if table_format and table_format not in (capabilities.supported_table_formats or []):
        raise ConfigurationError(
            f'{config_key("table_format")} is "{table_format}", but the {name} destination does not write'
            f" {table_format} tables.",
            "Remove `table_format` for this destination: it is for the filesystem destination.",
        )
    strategies = merge_strategies(capabilities, table_format)
    if DAY_MERGE not in strategies:
        plain_files = not strategies and capabilities.supported_table_formats
        raise ConfigurationError(
            f"The {name} destination cannot replace a re-read report day"
            + (" in plain files" if plain_files else f" (its merge strategies: {', '.join(strategies) or 'none'})")
            + ": every run would duplicate the days GitHub may still correct.",
            f'Set {config_key("table_format")} to "delta" and install dlt[deltalake] to write Delta tables.'
            if plain_files
            else "Load into a destination with dlt's `cdc` merge: DuckDB, MotherDuck, PostgreSQL, BigQuery,"
            " Snowflake, Databricks, MSSQL, or Delta tables on the filesystem destination.",
        )


def day_scope(column: str, first: date, last: date | None) -> str:
    """The destination rows one run may replace: those of the days it re-reads (a Delta merge scope)."""
    scope = f"{{table}}.{column} >= DATE '{first.isoformat()}'"
    if last is not None:
        scope += f" AND {{table}}.{column} <= DATE '{last.isoformat()}'"
    return scope


def staged_days_scope(day_keys: Sequence[str]) -> str:
    """The destination rows of the days (and entity) a load stages: those it replaces."""
    same = " AND ".join(f's."{key}" = {{table}}."{key}"' for key in day_keys)
    return f"EXISTS (SELECT 1 FROM {{staging_table}} AS s WHERE {same})"


def _forget_merge_keys(table: str) -> None:
    """The scope replaces the merge key: drop the one an older version stored on `table` and its
    array tables, which dlt would otherwise warn about on every run."""
    for name, stored in dlt.current.source_schema().tables.items():
        if name == table or name.startswith(f"{table}__"):
            for column in stored.get("columns", {}).values():
                column.pop("merge_key", None)


def fit_day_merge(
    table_format: TTableFormat | None,
    column: str,
    first: date,
    last: date | None = None,
    day_keys: Sequence[str] = (),
) -> None:
    """Make the current resource replace the days `first`..`last` on this destination.

    With `day_keys` (the resource yields each key once: its staged rows need no deduplication),
    DuckDB deletes the staged days and inserts their rows (`delete-insert`). Its MERGE, which
    `cdc` runs, holds a buffer per column and thread and runs out of a 192 MB memory limit at some
    700 columns; dlt's `delete-insert` by merge key ORs the primary key in, which DuckDB runs as a
    nested loop. A destination scope naming the staged days avoids both.
    """
    found = _destination_capabilities()  # dlt resolves a destination's capabilities anew on each call
    check_destination(table_format, found)
    if day_keys and not table_format and found and found[0] in ("duckdb", "motherduck"):
        replace_days: TWriteDispositionConfig = {
            "disposition": "merge",
            "strategy": "delete-insert",
            "deduplicated": True,
            "destination_scope": staged_days_scope(day_keys),
        }
        resource = dlt.current.resource()
        resource.apply_hints(write_disposition=replace_days, merge_key="")
        _forget_merge_keys(str(resource.table_name))
    elif table_format == "delta":
        scoped: TWriteDispositionConfig = {
            "disposition": "merge",
            "strategy": "cdc",
            "destination_scope": day_scope(column, first, last),
        }
        dlt.current.resource().apply_hints(write_disposition=scoped, merge_key="")


def fit_file_format() -> None:
    """Row-dict tables travel as parquet where the destination would otherwise take INSERT
    statements but loads parquet natively (DuckDB): its insert_values loader needs GBs of memory
    for a large enterprise's seats. Other destinations keep their own choice."""
    found = _destination_capabilities()
    if found is None:
        return
    _, capabilities = found
    preferred = capabilities.preferred_loader_file_format
    supported: Sequence[str] = list(capabilities.supported_loader_file_formats or [])
    if capabilities.loader_file_format_selector is not None:
        table: TTableSchema = {"name": dlt.current.resource().name}
        selector = capabilities.loader_file_format_selector
        preferred, supported = selector(
            preferred, list(capabilities.supported_loader_file_formats or []), table_schema=table
        )
    if preferred == "insert_values" and "parquet" in supported:
        dlt.current.resource().apply_hints(file_format="parquet")


def fit_seat_history(table_format: TTableFormat | None) -> None:
    """Keep seat history with `scd2` where the destination has it; else keep the current seats."""
    found = _destination_capabilities()
    if found is None:
        return
    name, capabilities = found
    if SEAT_HISTORY_STRATEGY not in merge_strategies(capabilities, table_format):
        logger.info(
            f"The {name} destination has no scd2 merge{f' for {table_format} tables' if table_format else ''}:"
            " `seats` holds the current seat assignments, replaced on every run, without history."
        )
        dlt.current.resource().apply_hints(write_disposition=SEAT_SNAPSHOT)
