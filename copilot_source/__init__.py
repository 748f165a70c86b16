"""GitHub Copilot seats, enterprise metrics and per-user daily usage as a dlt source.

pipeline = dlt.pipeline("github_copilot", destination="duckdb", dataset_name="copilot_data")
pipeline.run(copilot_source())  # config and secrets from .dlt/ or SOURCES__COPILOT__* env vars
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dlt
from dlt.common import logger
from dlt.extract.resource import DltResource

from copilot_source.accounts import GitHubAppCredentials, make_credentials
from copilot_source.config import (
    DEFAULT_API_DEADLINE_SECONDS,
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_BILLING_EXPORT_TIMEOUT_SECONDS,
    DEFAULT_BILLING_POLL_SECONDS,
    DEFAULT_CONCURRENCY,
    DEFAULT_DOWNLOAD_DEADLINE_SECONDS,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_RATE_LIMIT_MAX_WAIT_SECONDS,
    DEFAULT_RATE_LIMIT_MIN_WAIT_SECONDS,
    parse_day,
    validate_settings,
)
from copilot_source.declarations import ENTERPRISE, ORGANIZATION, REPORTS, RESOURCE_NAMES, SCOPES
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
from copilot_source.resources import (
    credit_export_resource,
    credit_usage_resource,
    org_billing_resource,
    report_resource,
    seat_resources,
)
from copilot_source.safeguards import guard_active_pipeline

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


@dlt.source(name="copilot", section="copilot")
def copilot_source(
    enterprise: Any | None = None,
    organizations: Any | None = None,
    access_token: str | None = dlt.secrets.value,
    github_app: GitHubAppCredentials | None = None,
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
    billing: bool = False,
    billing_poll_interval: float = DEFAULT_BILLING_POLL_SECONDS,
    billing_export_timeout: int = DEFAULT_BILLING_EXPORT_TIMEOUT_SECONDS,
) -> Sequence[DltResource]:
    """Copilot seats (with assignment history), daily seat activity and the daily usage reports
    (metrics, users, teams, repositories) of GitHub enterprises and organizations, each loaded
    incrementally, each account with its own record of days.

    Args:
        enterprise: An enterprise slug (https://github.com/enterprises/<slug>), or a list of them.
        organizations: Organization logins (https://github.com/<login>) to load as well, or alone.
        access_token: A classic token (`manage_billing:copilot` or `read:enterprise`; for
            organizations `read:org` too), or a fine-grained one (organizations only).
        github_app: Instead of a token: `app_id`, `private_key` (PEM or path) and optionally
            `installation_ids` of a GitHub App installed on the accounts.
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
        billing: Also load the AI-credit billing tables (they need billing access); each one can
            also be named alone in `with_resources` / `--resources`.
        billing_poll_interval: First pause (seconds) between polls of a usage report export.
        billing_export_timeout: Seconds a usage report export may take before the run gives up.
    """
    install_log_redaction()
    settings = validate_settings(
        enterprise=enterprise,
        organizations=organizations,
        access_token=access_token,
        github_app=github_app,
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
        billing=billing,
        billing_poll_interval=billing_poll_interval,
        billing_export_timeout=billing_export_timeout,
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
    client = GitHubClient(settings, make_credentials(settings.access_token, settings.github_app))
    resources: list[DltResource] = []
    for scope in SCOPES:
        if settings.accounts_of(scope):
            resources += seat_resources(scope, client, settings, fmt)
            if scope is ORGANIZATION:
                resources.append(org_billing_resource(client, settings, fmt))
            reports = (spec for spec in REPORTS if spec.scope is scope)
            resources += [report_resource(spec, client, settings, fast_path, fmt) for spec in reports]
            resources.append(credit_usage_resource(scope, client, settings, fmt))
            if scope is ENTERPRISE:
                resources.append(credit_export_resource(client, settings, fmt))
    return resources
