"""What GitHub serves, as data: the scopes, the daily usage reports and the tables they load.

A report is a declaration, not code: its scope (enterprise or organization), the report name in
the URL, the table it loads, the key of a row, the first day GitHub has it and GitHub's docs
page. The resources are made from these declarations (`copilot_source/__init__.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

DOCS = {
    "seats": "https://docs.github.com/enterprise-cloud@latest/rest/copilot/copilot-user-management#list-all-copilot-seat-assignments-for-an-enterprise",
    "enterprise-1-day": "https://docs.github.com/enterprise-cloud@latest/rest/copilot/copilot-usage-metrics#get-copilot-enterprise-usage-metrics-for-a-specific-day",
    "users-1-day": "https://docs.github.com/enterprise-cloud@latest/rest/copilot/copilot-usage-metrics#get-copilot-users-usage-metrics-for-a-specific-day",
    "tokens": "https://docs.github.com/authentication/keeping-your-account-and-data-secure/managing-your-personal-access-tokens",
    "scopes": "https://docs.github.com/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps",
    "rate_limits": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api",
    "troubleshooting": "https://docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api",
    "metrics_policy": "https://docs.github.com/enterprise-cloud@latest/copilot/how-tos/administer-copilot/manage-for-enterprise/manage-enterprise-policies",
    "usage_metrics": "https://docs.github.com/enterprise-cloud@latest/rest/copilot/copilot-usage-metrics",
    "apps": "https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation",
}

# GitHub keeps usage reports for one year; a day becomes available two to three full UTC days
# after it ends, and may still change until then
REPORT_RETENTION_DAYS = 365
REPORT_DELAY_DAYS = 3
# answers to a report day that mean "no report for this day (yet)", not an error
NO_DATA_STATUSES = (204, 404)


@dataclass(frozen=True)
class Scope:
    """Where reports live: `/enterprises/{slug}/...` or `/orgs/{login}/...`."""

    name: str
    path: str
    # the column a report line names its enterprise or organization in (text, as GitHub sends it)
    id_column: str
    # the scope's tables are named <prefix><table>: seats, org_seats
    table_prefix: str
    # the config key that names accounts of this scope
    config_key: str


ENTERPRISE = Scope("enterprise", "enterprises", "enterprise_id", "", "enterprise")
ORGANIZATION = Scope("organization", "orgs", "organization_id", "org_", "organizations")
SCOPES = (ENTERPRISE, ORGANIZATION)


@dataclass(frozen=True)
class Report:
    """One daily usage report and the table it loads."""

    scope: Scope
    # the report's name in GitHub's URL, e.g. users-1-day
    report: str
    table: str
    # what identifies a line besides its day and its enterprise or organization
    row_keys: tuple[str, ...]
    first_day: date
    docs_url: str
    no_data_statuses: tuple[int, ...] = NO_DATA_STATUSES
    # False for a report GitHub publishes only for days with activity it covers (repositories with
    # pull requests): a day without one between days with one is no hole to ask for again
    always_published: bool = True
    # True for a report an account may have no line of at all (no team of five seated users, no
    # pull requests): the check says so and does not fail
    may_be_absent: bool = False

    @property
    def day_keys(self) -> tuple[str, ...]:
        """The part of the key that names one whole report day: a re-read replaces it."""
        return ("day", self.scope.id_column)

    @property
    def keys(self) -> tuple[str, ...]:
        return (*self.day_keys, *self.row_keys)

    def path(self, account: str) -> str:
        return f"{self.scope.path}/{account}/copilot/metrics/reports/{self.report}"


# GitHub serves enterprise reports from 2025-10-10, organization reports from 2025-12-12, team
# membership from 2026-05-14 and repositories from their general availability on 2026-07-17
FIRST_REPORT_DAY = date(2025, 10, 10)
FIRST_ORGANIZATION_DAY = date(2025, 12, 12)
FIRST_TEAMS_DAY = date(2026, 5, 14)
FIRST_REPOS_DAY = date(2026, 7, 17)


def _reports(scope: Scope, metrics_report: str, metrics_table: str, first: date) -> tuple[Report, ...]:
    """The daily reports of one scope; they differ only in path, id column and first day."""
    prefix = scope.table_prefix
    return (
        Report(scope, metrics_report, metrics_table, (), first, DOCS["usage_metrics"]),
        Report(scope, "users-1-day", f"{prefix}users_1_day", ("user_id",), first, DOCS["usage_metrics"]),
        Report(
            scope,
            "user-teams-1-day",
            f"{prefix}user_teams_1_day",
            ("user_id", "team_id"),
            max(first, FIRST_TEAMS_DAY),
            DOCS["usage_metrics"],
            may_be_absent=True,
        ),
        Report(
            scope,
            "repos-1-day",
            f"{prefix}repos_1_day",
            ("repo_id",),
            max(first, FIRST_REPOS_DAY),
            DOCS["usage_metrics"],
            always_published=False,
            may_be_absent=True,
        ),
    )


REPORTS = (
    *_reports(ENTERPRISE, "enterprise-1-day", "enterprise_metrics", FIRST_REPORT_DAY),
    *_reports(ORGANIZATION, "organization-1-day", "organization_metrics", FIRST_ORGANIZATION_DAY),
)


def seat_tables(scope: Scope) -> tuple[str, str]:
    """The seat history and daily activity tables of a scope."""
    return f"{scope.table_prefix}seats", f"{scope.table_prefix}seat_activity"


ORG_BILLING_TABLE = "org_copilot_billing"
# AI credits, loaded only when asked for (`billing`, or named): they need billing access
CREDIT_TABLES = ("ai_credit_usage", "ai_credit_usage_by_user", "org_ai_credit_usage")
SEAT_TABLES = (*seat_tables(ENTERPRISE), *seat_tables(ORGANIZATION))
RESOURCE_NAMES = (
    *seat_tables(ENTERPRISE),
    *(r.table for r in REPORTS if r.scope is ENTERPRISE),
    *seat_tables(ORGANIZATION),
    ORG_BILLING_TABLE,
    *(r.table for r in REPORTS if r.scope is ORGANIZATION),
    *CREDIT_TABLES,
)
