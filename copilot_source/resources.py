"""The source's resources, made from the declarations for the configured accounts.

A report resource reads its report for every enterprise or organization of its scope, one after
the other, each from its own record of days; a seat resource pair reads one complete seat list per
account. Nothing here is specific to one report or one scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dlt
from dlt.common.schema.typing import TTableFormat
from dlt.extract.resource import DltResource

from copilot_source.accounts import Account
from copilot_source.billing import (
    CREDIT_EXPORT_TABLE,
    CREDITS_FROM,
    EXPORT_KEY,
    CreditExport,
    Polling,
    export_rows,
    export_windows,
    read_export,
    usage_rows,
)
from copilot_source.concurrency import ordered_map
from copilot_source.config import SourceSettings, earliest_report_day
from copilot_source.declarations import DOCS, ENTERPRISE, ORG_BILLING_TABLE, ORGANIZATION, Report, Scope, seat_tables
from copilot_source.destinations import fit_day_merge, fit_file_format, fit_seat_history
from copilot_source.github.client import GitHubClient
from copilot_source.reports.days import DayOutcome, DayRecord, day_range, plan_days
from copilot_source.reports.downloads import download_file
from copilot_source.reports.reader import ENTITIES, MERGE, ReportReader
from copilot_source.seats import SEAT_HISTORY, Seat, SeatSnapshot, activity_row, assignment_row
from copilot_source.workspace import current_load_id, remove_work_folder, work_folder

ORG_BILLING_DOCS = "https://docs.github.com/enterprise-cloud@latest/rest/copilot/copilot-user-management#get-copilot-seat-information-and-settings-for-an-organization"


def _named(settings: SourceSettings, account: Account) -> bool:
    """Whether messages must say which account: an organization, or one of several enterprises."""
    return account.scope is not ENTERPRISE or len(settings.accounts_of(ENTERPRISE)) > 1


def report_resource(
    spec: Report, client: GitHubClient, settings: SourceSettings, fast: bool, table_format: TTableFormat | None
) -> DltResource:
    """A report's resource: for each account of its scope, the days its own record plans (see
    `reports.days`), each day's rows replacing that account's day in the table and array tables."""
    accounts = settings.accounts_of(spec.scope)

    def read() -> Iterator[Any]:
        readers = [ReportReader(client, settings, spec, fast, account) for account in accounts]
        plans = [reader.plan() for reader in readers]
        if table_format == "delta" and len(plans) > 1:
            # a Delta merge scope is a day range for the whole table: every account re-reads from
            # the earliest window, so that no account's days are replaced by nothing
            first = min(plan.window_start for plan in plans)
            plans = [reader.plan(extend_to=first) for reader in readers]
        first_day = min((plan.window_start for plan in plans), default=settings.start_date)
        fit_day_merge(table_format, "day", first_day, settings.end_date, day_keys=spec.day_keys)
        for reader, plan in zip(readers, plans, strict=True):
            yield from reader.read(plan)

    resource: DltResource = dlt.resource(read, name=spec.table, max_table_nesting=0)
    # the array tables inherit these hints (see `reports.breakdown_hints`)
    resource.apply_hints(
        write_disposition=MERGE, primary_key=spec.keys, merge_key=spec.day_keys, table_format=table_format
    )
    return resource


def organization_id(client: GitHubClient, account: Account) -> str:
    """An organization's id (text, as reports name it), from its public profile; asked once a run."""
    key = f"id:{account.key}"
    if key not in client.memo:
        profile = client.get_json(f"orgs/{account.slug}", f"the profile of {account}", DOCS["troubleshooting"])
        client.memo[key] = str(profile.get("id") or "")
    return str(client.memo[key])


def _org_seat(seat: Seat, org_id: str) -> Seat:
    """An organization's seat names its organization, even where GitHub leaves `organization` out."""
    if not isinstance(seat.get("organization"), dict) and org_id:
        seat = {**seat, "organization": {"id": int(org_id) if org_id.isdigit() else org_id}}
    return seat


def seat_resources(
    scope: Scope, client: GitHubClient, settings: SourceSettings, table_format: TTableFormat | None
) -> list[DltResource]:
    """One read of each account's seat pages feeds both tables: assignments (history) and daily
    activity. Each read is a complete snapshot or nothing (see `seats.py`): a seat missing from it
    would be recorded as removed. The accounts of a scope together are the table's snapshot."""
    snapshot_day = settings.today
    history_table, activity_table = seat_tables(scope)
    fitted: set[str] = set()

    def fit_once(table: str) -> bool:
        """True the first time a table is seen this run: its hints are fitted to the destination."""
        first = table not in fitted
        fitted.add(table)
        return first

    def read_pages() -> Iterator[list[Seat]]:
        for account in settings.accounts_of(scope):
            org_id = organization_id(client, account) if scope is not ENTERPRISE else ""
            for page in SeatSnapshot(client, account, settings.concurrency, _named(settings, account)).read():
                if scope is ENTERPRISE:
                    yield page
                else:
                    yield [{**_org_seat(seat, org_id), "organization_id": org_id} for seat in page]

    def assignments(page: list[Seat]) -> Iterator[list[Seat]]:
        if fit_once(history_table):
            fit_seat_history(table_format)
            fit_file_format()
        yield [assignment_row(seat) for seat in page]

    def activity(page: list[Seat]) -> Iterator[list[Seat]]:
        if fit_once(activity_table):
            fit_day_merge(table_format, "snapshot_day", snapshot_day, snapshot_day)
            fit_file_format()
        yield [activity_row(seat, snapshot_day) for seat in page]

    pages: DltResource = dlt.resource(read_pages, name=f"{scope.table_prefix}seat_pages", selected=False)
    seats: DltResource = dlt.transformer(assignments, data_from=pages, name=history_table)
    seats.apply_hints(write_disposition=SEAT_HISTORY, table_format=table_format)
    seat_activity: DltResource = dlt.transformer(activity, data_from=pages, name=activity_table)
    seat_activity.apply_hints(
        write_disposition=MERGE,
        primary_key=("snapshot_day", "seat_key"),
        merge_key="snapshot_day",
        table_format=table_format,
    )
    return [seats, seat_activity]


def org_billing_resource(
    client: GitHubClient, settings: SourceSettings, table_format: TTableFormat | None
) -> DltResource:
    """`GET /orgs/{org}/copilot/billing` once a day per organization: its seat breakdown and policies."""
    snapshot_day: date = settings.today

    def read() -> Iterator[dict[str, Any]]:
        fit_day_merge(table_format, "snapshot_day", snapshot_day, snapshot_day)
        fit_file_format()
        for account in settings.accounts_of(ORGANIZATION):
            body = client.get_json(
                f"orgs/{account.slug}/copilot/billing", f"the Copilot billing of {account}", ORG_BILLING_DOCS
            )
            yield {
                "snapshot_day": snapshot_day,
                "organization_id": organization_id(client, account),
                "organization": account.slug,
                **body,
            }

    resource: DltResource = dlt.resource(read, name=ORG_BILLING_TABLE)
    resource.apply_hints(
        write_disposition=MERGE,
        primary_key=("snapshot_day", "organization_id"),
        merge_key="snapshot_day",
        table_format=table_format,
    )
    return resource


# ---- AI credits (opt-in: `billing = true`, or named in --resources) -----------------------------
def _billing_owner(scope: Scope) -> str:
    """The column that names whose usage a billing row is: `enterprise` or `organization`."""
    return "enterprise" if scope is ENTERPRISE else "organization"


def _billing_path(account: Account, tail: str) -> str:
    prefix = "enterprises" if account.scope is ENTERPRISE else "organizations"
    return f"{prefix}/{account.slug}/settings/billing/{tail}"


def _plan_days(account: Account, settings: SourceSettings, first_day: date) -> tuple[DayRecord, list[date]]:
    """An account's days to read, from its own record in the resource state (as reports plan theirs)."""
    stored = dlt.current.resource_state().setdefault(ENTITIES, {}).get(account.key, {})
    record = DayRecord.from_state(stored)
    first = max(settings.start_date, first_day)
    if settings.is_backfill:
        assert settings.end_date is not None
        return record, day_range(first, settings.end_date)
    start = record.window_start(settings.lookback_days, first)
    yesterday = settings.today - timedelta(days=1)
    return record, plan_days(start, yesterday, record.holes, earliest_report_day(settings.today))


def _remember(account: Account, settings: SourceSettings, record: DayRecord, loaded: list[date]) -> None:
    if settings.is_backfill:
        return
    entities = dlt.current.resource_state().setdefault(ENTITIES, {})
    entities[account.key] = record.updated(
        DayOutcome(loaded=list(loaded)), earliest_report_day(settings.today)
    ).to_state()


def credit_usage_resource(
    scope: Scope, client: GitHubClient, settings: SourceSettings, table_format: TTableFormat | None
) -> DltResource:
    """The billing API's AI-credit usage items, one call per account and day, days re-read like reports."""
    owner = _billing_owner(scope)
    accounts = settings.accounts_of(scope)

    def read() -> Iterator[list[dict[str, Any]]]:
        plans = [(account, *_plan_days(account, settings, CREDITS_FROM)) for account in accounts]
        first = min((days[0] for _, _, days in plans if days), default=settings.start_date)
        fit_day_merge(table_format, "day", first, settings.end_date, day_keys=("day", owner))
        fit_file_format()
        for account, record, days in plans:
            path = _billing_path(account, "ai_credit/usage")

            def fetch(day: date, path: str = path, slug: str = account.slug) -> list[dict[str, Any]]:
                return usage_rows(client, path, owner, slug, day)

            loaded: list[date] = []
            for day, rows in zip(days, ordered_map(fetch, days, settings.concurrency), strict=True):
                if rows:
                    yield rows
                loaded.append(day)
                _remember(account, settings, record, loaded)

    resource: DltResource = dlt.resource(read, name=f"{scope.table_prefix}ai_credit_usage", selected=settings.billing)
    resource.apply_hints(
        write_disposition=MERGE,
        primary_key=("day", owner, "product", "sku", "model"),
        merge_key=("day", owner),
        table_format=table_format,
    )
    return resource


def credit_export_resource(
    client: GitHubClient, settings: SourceSettings, table_format: TTableFormat | None
) -> DltResource:
    """Per person: GitHub's AI usage report export, windows of at most 31 days, one after another."""
    polling = Polling(first=settings.billing_poll_interval, deadline=settings.billing_export_timeout)

    def download(url: str, target: Path, what: str) -> None:
        download_file(client, url, target, what, ndjson=False)

    def read() -> Iterator[Any]:
        plans = [
            (account, *_plan_days(account, settings, CREDITS_FROM)) for account in settings.accounts_of(ENTERPRISE)
        ]
        first = min((days[0] for _, _, days in plans if days), default=settings.start_date)
        fit_day_merge(table_format, "day", first, settings.end_date, day_keys=("day", "enterprise"))
        load_id = current_load_id()
        for account, record, days in plans:
            if not days:
                continue
            export = CreditExport(client, account.slug, polling)
            folder = work_folder(CREDIT_EXPORT_TABLE, account)
            loaded: list[date] = []
            try:
                for start, end in export_windows(days[0], days[-1]):
                    what = f"the AI usage report export of {account} for {start}..{end}"
                    export_id = export.request(start, end)
                    for path in export.files(export_id, what, folder, download):
                        for table in read_export(path, what):
                            yield export_rows(table, account.slug, load_id)
                        path.unlink(missing_ok=True)
                    loaded += day_range(start, end)
                    _remember(account, settings, record, loaded)
            finally:
                remove_work_folder(folder)

    resource: DltResource = dlt.resource(read, name=CREDIT_EXPORT_TABLE, selected=settings.billing)
    resource.apply_hints(
        write_disposition=MERGE,
        primary_key=EXPORT_KEY,
        merge_key=("day", "enterprise"),
        table_format=table_format,
    )
    return resource
