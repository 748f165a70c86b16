"""Constants: GitHub's limits, our defaults and the table of report resources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

DEFAULT_BASE_URL = "https://api.github.com"
DEFAULT_API_VERSION = "2022-11-28"
DEFAULT_LOOKBACK_DAYS = 3
DEFAULT_CONCURRENCY = 4
DEFAULT_RATE_LIMIT_MAX_WAIT_SECONDS = 3600.0
# GitHub: without retry-after or an exhausted budget, wait at least a minute, then back off
DEFAULT_RATE_LIMIT_MIN_WAIT_SECONDS = 60.0
SEATS_PER_PAGE = 100

# GitHub serves enterprise reports from this day on, and at most one year back
FIRST_REPORT_DAY = date(2025, 10, 10)
REPORT_RETENTION_DAYS = 365
# a day becomes available two to three full UTC days after it ends
REPORT_DELAY_DAYS = 3

USER_AGENT = "copilot-source (dlt source; +https://github.com/)"

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
}

# report fields whose JSON values may be integral but are decimals: typed as double on both paths
DOUBLE_FIELDS = frozenset(
    {
        "ai_credits_used",
        "avg_tokens_per_request",
        "median_minutes_to_merge",
        "median_minutes_to_merge_copilot_authored",
        "median_minutes_to_merge_copilot_reviewed",
    }
)
# ISO date strings that become SQL DATEs
DATE_FIELDS = frozenset({"day", "report_start_day", "report_end_day"})
# ISO date-time strings that become timestamps (matched on the last part of a flattened name)
TIMESTAMP_FIELDS = frozenset({"sampled_at", "created_at"})


@dataclass(frozen=True)
class ReportSpec:
    """One report resource: the GitHub report it reads and the key of a row."""

    resource: str
    report: str
    keys: tuple[str, ...]
    # the part of the key that names one whole re-readable report day
    day_keys: tuple[str, ...] = ("day", "enterprise_id")

    @property
    def docs_url(self) -> str:
        return DOCS[self.report]


REPORTS = (
    ReportSpec("enterprise_metrics", "enterprise-1-day", ("day", "enterprise_id")),
    ReportSpec("users_1_day", "users-1-day", ("day", "enterprise_id", "user_id")),
)
RESOURCE_NAMES = ("seats", "seat_activity", *(spec.resource for spec in REPORTS))
