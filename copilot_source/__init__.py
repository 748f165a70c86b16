"""GitHub Copilot seats, enterprise metrics and per-user daily usage as a dlt source.

pipeline = dlt.pipeline("github_copilot", destination="duckdb", dataset_name="copilot_data")
pipeline.run(copilot_source())  # config and secrets from .dlt/ or SOURCES__COPILOT__* env vars
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import dlt
from dlt.common import logger
from dlt.common.schema.typing import TTableFormat
from dlt.extract.resource import DltResource

from copilot_source.config import (
    DEFAULT_API_DEADLINE_SECONDS,
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_DOWNLOAD_DEADLINE_SECONDS,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_RATE_LIMIT_MAX_WAIT_SECONDS,
    DEFAULT_RATE_LIMIT_MIN_WAIT_SECONDS,
    SourceSettings,
    parse_day,
    validate_settings,
)
from copilot_source.declarations import REPORTS, RESOURCE_NAMES, Report
from copilot_source.destinations import fit_day_merge, fit_file_format, fit_seat_history
from copilot_source.errors import (
    ConfigurationError,
    CopilotSourceError,
    InvalidCredentials,
    InvalidPermissions,
    MetricsDisabled,
    NoResource,
    RateLimited,
    ReportDataError,
    RunInProgress,
    SeatDataError,
    Unreachable,
    find_source_error,
)
from copilot_source.github.client import GitHubClient
from copilot_source.github.redaction import install_log_redaction
from copilot_source.reports.reader import MERGE, ReportReader
from copilot_source.safeguards import guard_active_pipeline
from copilot_source.seats import SEAT_HISTORY, Seat, SeatSnapshot, activity_row, assignment_row

__all__ = [
    "RESOURCE_NAMES",
    "ConfigurationError",
    "CopilotSourceError",
    "InvalidCredentials",
    "InvalidPermissions",
    "MetricsDisabled",
    "NoResource",
    "RateLimited",
    "ReportDataError",
    "RunInProgress",
    "SeatDataError",
    "Unreachable",
    "copilot_source",
    "find_source_error",
]


def _report_resource(reader: ReportReader, settings: SourceSettings, table_format: TTableFormat | None) -> DltResource:
    """A report's resource: the days its own record plans (see `reports.days`), each day's
    rows replacing that day's rows in the destination, in the report's table and array tables."""
    spec: Report = reader.spec

    def read() -> Iterator[Any]:
        plan = reader.plan()
        # the days this run re-reads, which a merge on this destination may replace
        fit_day_merge(table_format, "day", plan.window_start, settings.end_date, day_keys=spec.day_keys)
        yield from reader.read(plan)

    resource: DltResource = dlt.resource(read, name=spec.table, max_table_nesting=0)
    # the array tables inherit these hints (see `reports.breakdown_hints`)
    resource.apply_hints(
        write_disposition=MERGE, primary_key=spec.keys, merge_key=spec.day_keys, table_format=table_format
    )
    return resource


def _seat_resources(
    client: GitHubClient, settings: SourceSettings, table_format: TTableFormat | None
) -> list[DltResource]:
    """One read of the seat pages feeds both tables: assignments (history) and daily activity.
    The read is a complete snapshot or nothing (see `seats.py`): a seat missing from it would be
    recorded as removed."""
    snapshot_day = settings.today
    fitted: set[str] = set()

    def fit_once(table: str) -> bool:
        """True the first time a table is seen this run: its hints are fitted to the destination."""
        first = table not in fitted
        fitted.add(table)
        return first

    def read_pages() -> Iterator[list[Seat]]:
        yield from SeatSnapshot(client, settings.enterprise, settings.concurrency).read()

    def assignments(page: list[Seat]) -> Iterator[list[Seat]]:
        if fit_once("seats"):
            fit_seat_history(table_format)
            fit_file_format()
        yield [assignment_row(seat) for seat in page]

    def activity(
        page: list[Seat],
        day: dlt.sources.incremental[date] = dlt.sources.incremental(
            "snapshot_day", primary_key=(), allow_external_schedulers=False
        ),
    ) -> Iterator[list[Seat]]:
        if fit_once("seat_activity"):
            fit_day_merge(table_format, "snapshot_day", snapshot_day, snapshot_day)
            fit_file_format()
        yield [activity_row(seat, snapshot_day) for seat in page]

    pages: DltResource = dlt.resource(read_pages, name="seat_pages", selected=False)
    seats: DltResource = dlt.transformer(assignments, data_from=pages, name="seats")
    seats.apply_hints(write_disposition=SEAT_HISTORY, table_format=table_format)
    seat_activity: DltResource = dlt.transformer(activity, data_from=pages, name="seat_activity")
    seat_activity.apply_hints(
        write_disposition=MERGE,
        primary_key=("snapshot_day", "seat_key"),
        merge_key="snapshot_day",
        table_format=table_format,
    )
    return [seats, seat_activity]


@dlt.source(name="copilot", section="copilot")
def copilot_source(
    enterprise: str | None = dlt.config.value,
    access_token: str | None = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    start_date: Any | None = None,
    end_date: Any | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    api_version: str = DEFAULT_API_VERSION,
    concurrency: int = DEFAULT_CONCURRENCY,
    rate_limit_max_wait: int = DEFAULT_RATE_LIMIT_MAX_WAIT_SECONDS,
    rate_limit_min_wait: int = DEFAULT_RATE_LIMIT_MIN_WAIT_SECONDS,
    fast_path: bool = True,
    table_format: str | None = None,
    today: Any | None = None,
    api_deadline: int = DEFAULT_API_DEADLINE_SECONDS,
    download_deadline: int = DEFAULT_DOWNLOAD_DEADLINE_SECONDS,
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Sequence[DltResource]:
    """Copilot seats (with assignment history), daily seat activity, and the enterprise-1-day and
    users-1-day usage reports of one GitHub enterprise, each loaded incrementally.

    Args:
        enterprise: The enterprise slug, as in https://github.com/enterprises/<slug>.
        access_token: A classic token with `manage_billing:copilot` or `read:enterprise`.
        base_url: The API host; GHE.com tenants use https://api.<subdomain>.ghe.com.
        start_date: First day to load; default and lower bound: the oldest day GitHub keeps.
        end_date: With it, a one-off backfill of start_date..end_date that leaves the cursor alone.
        lookback_days: Trailing days re-read on every run, because GitHub finalises reports late.
        api_version: The `X-GitHub-Api-Version` header.
        concurrency: Report days, downloads and seat pages fetched side by side.
        rate_limit_max_wait: Seconds a run may spend waiting on rate limits before it fails.
        rate_limit_min_wait: First backoff when GitHub rate-limits without saying how long.
        fast_path: Parse reports with Arrow (default); False uses plain Python rows (slow).
        table_format: "delta" writes Delta tables with the filesystem destination (plain files
            cannot replace a re-read day); leave unset for databases and warehouses.
        today: The UTC day the run treats as today (default: the clock's). Tests and exact
            reruns set it; the newest day asked for is the day before.
        api_deadline: Seconds one API request attempt may take in all (a trickling answer is cut).
        download_deadline: Seconds one report file download may take in all, redirects included.
        max_download_bytes: Bytes one report file may have, as received and inflated alike.
        max_line_bytes: Bytes one line of a report file may have.
    """
    install_log_redaction()
    settings = validate_settings(
        enterprise=enterprise,
        access_token=access_token,
        base_url=base_url,
        api_version=api_version,
        start_date=start_date,
        end_date=end_date,
        lookback_days=lookback_days,
        concurrency=concurrency,
        rate_limit_max_wait=rate_limit_max_wait,
        rate_limit_min_wait=rate_limit_min_wait,
        today=today,
        api_deadline=api_deadline,
        download_deadline=download_deadline,
        max_download_bytes=max_download_bytes,
        max_line_bytes=max_line_bytes,
        table_format=table_format,
    )
    # recovery after a killed load and bounded DuckDB memory, for whatever pipeline runs the source
    guard_active_pipeline()
    fmt = settings.table_format
    requested_start = parse_day(start_date, "start_date")
    if requested_start and requested_start < settings.start_date:
        logger.warning(
            f"start_date {requested_start} is older than GitHub keeps reports (one year):"
            f" loading from {settings.start_date}."
        )
    # our row dicts carry typed values; strings that merely look like timestamps stay text
    dlt.current.source_schema().remove_type_detection("iso_timestamp")
    client = GitHubClient(settings)
    readers = [ReportReader(client, settings, spec, fast_path) for spec in REPORTS]
    return [*_seat_resources(client, settings, fmt), *(_report_resource(r, settings, fmt) for r in readers)]
