"""The source's resources, made from the declarations for the configured accounts.

A report resource reads its report for every enterprise or organization of its scope, one after
the other, each from its own record of days; a seat resource pair reads one complete seat list per
account. Nothing here is specific to one report or one scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import dlt
from dlt.common.schema.typing import TTableFormat
from dlt.extract.resource import DltResource

from copilot_source.accounts import Account
from copilot_source.config import SourceSettings
from copilot_source.declarations import DOCS, ENTERPRISE, ORG_BILLING_TABLE, ORGANIZATION, Report, Scope, seat_tables
from copilot_source.destinations import fit_day_merge, fit_file_format, fit_seat_history
from copilot_source.github.client import GitHubClient
from copilot_source.reports.reader import MERGE, ReportReader
from copilot_source.seats import SEAT_HISTORY, Seat, SeatSnapshot, activity_row, assignment_row

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
