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
    """Where a report lives: `/enterprises/{slug}/...` or `/orgs/{login}/...`."""

    name: str
    path: str
    # the column a report line names its enterprise or organization in (text, as GitHub sends it)
    id_column: str


ENTERPRISE = Scope("enterprise", "enterprises", "enterprise_id")
ORGANIZATION = Scope("organization", "orgs", "organization_id")


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

    @property
    def day_keys(self) -> tuple[str, ...]:
        """The part of the key that names one whole report day: a re-read replaces it."""
        return ("day", self.scope.id_column)

    @property
    def keys(self) -> tuple[str, ...]:
        return (*self.day_keys, *self.row_keys)

    def path(self, entity: str) -> str:
        return f"{self.scope.path}/{entity}/copilot/metrics/reports/{self.report}"


# GitHub serves enterprise reports from this day on
FIRST_REPORT_DAY = date(2025, 10, 10)

REPORTS = (
    Report(ENTERPRISE, "enterprise-1-day", "enterprise_metrics", (), FIRST_REPORT_DAY, DOCS["enterprise-1-day"]),
    Report(ENTERPRISE, "users-1-day", "users_1_day", ("user_id",), FIRST_REPORT_DAY, DOCS["users-1-day"]),
)
SEAT_TABLES = ("seats", "seat_activity")
RESOURCE_NAMES = (*SEAT_TABLES, *(report.table for report in REPORTS))
