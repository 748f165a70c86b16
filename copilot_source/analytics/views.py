"""Create the analytics views in the pipeline's dataset: call `create_views(pipeline)` after a load.

Each view is created only when the tables (and columns) it reads exist in the destination, so
organization, team and AI-credit views appear on the first load that brings their tables. On
destinations with transactional DDL (DuckDB, PostgreSQL) all views are replaced in one
transaction: a reader sees the old set or the new one.
"""

from __future__ import annotations

import dlt
from dlt.common import logger
from dlt.destinations.exceptions import DatabaseException
from dlt.destinations.job_client_impl import SqlJobClientBase

from copilot_source.analytics.catalog import Catalog
from copilot_source.analytics.credit_views import credit_views
from copilot_source.analytics.scopes import SCOPES, wanted_tables
from copilot_source.analytics.seat_views import seat_views
from copilot_source.analytics.sql import View
from copilot_source.analytics.team_views import team_views
from copilot_source.analytics.usage_views import usage_views
from copilot_source.errors import AnalyticsFailed
from copilot_source.github.redaction import redact


def plan_views(catalog: Catalog) -> list[View]:
    """Every view the tables in `catalog` allow, enterprise scope first."""
    views: list[View] = []
    for scope in SCOPES:
        for build in (usage_views, seat_views, team_views, credit_views):
            views += build(catalog, scope)
    return views


def read_catalog(client: SqlJobClientBase) -> Catalog:
    """The tables and columns the destination holds for the views to read."""
    naming = client.schema.naming
    names = [naming.normalize_path(name) for name in wanted_tables()]
    tables = {name: set(columns) for name, columns in client.get_storage_tables(names) if columns}
    capabilities = client.capabilities
    return Catalog(
        dataset_path=tuple(client.sql_client.make_qualified_table_name_path(None, quote=False)),
        tables=tables,
        naming=naming,
        casefold=capabilities.casefold_identifier,
        dialect=str(capabilities.sqlglot_dialect or "duckdb"),
    )


def view_statements(catalog: Catalog, view: View, transactional: bool) -> list[str]:
    """The statements replacing one view, in the destination's dialect."""
    name = catalog.table(view.name)
    if transactional:
        # inside one transaction: a changed column list cannot fail as CREATE OR REPLACE would
        statements = [f"DROP VIEW IF EXISTS {name}", f"CREATE VIEW {name} AS {view.sql}"]
    else:
        statements = [f"CREATE OR REPLACE VIEW {name} AS {view.sql}"]
    return [catalog.transpile(statement) for statement in statements]


def unreadable(pipeline: dlt.Pipeline, exc: Exception) -> AnalyticsFailed:
    """The destination could not be reached or read (down, locked, credentials missing)."""
    first = redact(str(exc)).strip().splitlines()[0][:500] if str(exc).strip() else ""
    first = f"{type(exc).__name__}: {first}"
    return AnalyticsFailed(
        f"Could not read the destination of pipeline {pipeline.pipeline_name!r}: {first}",
        "Check that the destination is reachable and its credentials are configured (.dlt/secrets.toml);"
        " a DuckDB file is locked while a load writes it, so run the report after the load.",
    )


def refused(destination: str, view: str, exc: Exception) -> AnalyticsFailed:
    return AnalyticsFailed(
        f"The {destination} destination refused the analytics view {view}:"
        f" {redact(str(exc)).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__}",
        "The loaded data is intact; only the views are missing. If you created your own views on top of"
        " these, drop them and run again; otherwise report the message above.",
    )


def execute(client: SqlJobClientBase, destination: str, statements: list[tuple[str, str]]) -> None:
    for view, statement in statements:
        try:
            client.sql_client.execute_sql(statement)
        except DatabaseException as exc:
            raise refused(destination, view, exc) from None


def create_views(pipeline: dlt.Pipeline) -> list[str]:
    """Create or replace the analytics views in `pipeline`'s dataset; returns their names.

    Destinations without SQL (the filesystem destination) get none, with a log line. Raises
    `AnalyticsFailed` when the destination refuses a view.
    """
    if pipeline.destination is None:
        raise AnalyticsFailed(
            f"Pipeline {pipeline.pipeline_name!r} has no destination, so there is nowhere to create views.",
            "Load data first (python pipelines/load.py) with the destination configured in .dlt/config.toml.",
        )
    try:
        with pipeline.destination_client() as client:
            if not isinstance(client, SqlJobClientBase):
                logger.info(
                    f"No analytics views: the {pipeline.destination.destination_name} destination has no SQL"
                    " database to hold them."
                )
                return []
            catalog = read_catalog(client)
            views = plan_views(catalog)
            transactional = bool(client.capabilities.supports_ddl_transactions)
            destination = pipeline.destination.destination_name
            try:
                statements = [(v.name, s) for v in views for s in view_statements(catalog, v, transactional)]
            except ValueError as exc:  # sqlglot: a construct with no translation to this dialect
                raise refused(destination, "(translating the view SQL)", exc) from None
            if transactional and statements:
                with client.sql_client.begin_transaction():
                    execute(client, destination, statements)
            else:
                execute(client, destination, statements)
    except AnalyticsFailed:
        raise
    except Exception as exc:  # the destination's driver raises its own kinds (psycopg2, duckdb, ...)
        raise unreadable(pipeline, exc) from None
    logger.info(f"Created {len(views)} analytics views in dataset {pipeline.dataset_name}.")
    return [view.name for view in views]
