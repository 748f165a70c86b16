"""The scopes the views are made for: the enterprise, and its organizations when loaded.

A scope is a value, not a copy of the SQL: the organization views are the enterprise views over
the `org_` tables, grouped by `organization_id` instead of `enterprise_id`, named with `org_`.
"""

from __future__ import annotations

from dataclasses import dataclass

BREAKDOWNS = (
    "totals_by_ide",
    "totals_by_feature",
    "totals_by_language_feature",
    "totals_by_language_model",
    "totals_by_model_feature",
)
# per-person AI-credit usage from GitHub's billing export (one credit = USD 0.01)
CREDIT_USAGE = "ai_credit_usage_by_user"


@dataclass(frozen=True)
class Scope:
    # prefix of the view names: "" for the enterprise, "org_" for organizations
    prefix: str
    # the column naming the enterprise or organization, in the reports and the views
    id_column: str
    users: str
    metrics: str
    teams: str
    seats: str
    seat_activity: str

    def view(self, name: str) -> str:
        return self.prefix + name

    def breakdown(self, name: str) -> str:
        return f"{self.users}__{name}"

    def tables(self) -> list[str]:
        own = [self.users, self.metrics, self.teams, self.seats, self.seat_activity]
        return [*own, *(self.breakdown(name) for name in BREAKDOWNS)]


ENTERPRISE = Scope(
    prefix="",
    id_column="enterprise_id",
    users="users_1_day",
    metrics="enterprise_metrics",
    teams="user_teams_1_day",
    seats="seats",
    seat_activity="seat_activity",
)
ORGANIZATION = Scope(
    prefix="org_",
    id_column="organization_id",
    users="org_users_1_day",
    metrics="organization_metrics",
    teams="org_user_teams_1_day",
    seats="org_seats",
    seat_activity="org_seat_activity",
)
SCOPES = (ENTERPRISE, ORGANIZATION)


def wanted_tables() -> list[str]:
    """Every table a view may read."""
    return sorted({name for scope in SCOPES for name in scope.tables()} | {CREDIT_USAGE})
