"""Team views: the users-1-day rows of the people a team had *that day* (GitHub's user-teams-1-day).

As GitHub's docs say: inner-join a day's usage rows with the same day's team rows on (day, scope
id, user id), count distinct users, sum counters. People on two teams count in both, and GitHub
leaves out teams with fewer than five seats, so team rows do not add up to the scope's totals.
"""

from __future__ import annotations

from copilot_source.analytics.catalog import Catalog
from copilot_source.analytics.scopes import Scope
from copilot_source.analytics.sql import View, count, ratio, week_start

SUMMED = (
    "user_initiated_interaction_count",
    "code_generation_activity_count",
    "code_acceptance_activity_count",
    "loc_added_sum",
    "loc_deleted_sum",
)


def members(cat: Catalog, scope: Scope) -> str | None:
    """Each team's members per day (distinct: a team lists a person once a day)."""
    table = scope.teams
    if not cat.has(table, scope.id_column, "day", "user_id", "team_id"):
        return None
    c = cat.col
    return f"""SELECT DISTINCT {c("t", scope.id_column)} AS scope_id, {c("t", "day")} AS day,
    {c("t", "team_id")} AS team_id, {cat.col_or_null(table, "t", "slug", "TEXT")} AS team_slug,
    {c("t", "user_id")} AS user_id
    FROM {cat.table(table)} AS t"""


def on_same_day(cat: Catalog, scope: Scope, alias: str) -> str:
    c = cat.col
    return (
        f"{c(alias, scope.id_column)} = m.scope_id AND {c(alias, 'day')} = m.day AND {c(alias, 'user_id')} = m.user_id"
    )


def team_active_users_by_day(cat: Catalog, scope: Scope, team_members: str) -> View:
    """Per team and day: its members that day, and how many of them used Copilot."""
    sql = f"""
WITH members AS ({team_members})
SELECT m.scope_id AS {scope.id_column}, m.team_id, m.team_slug, m.day,
{count("COUNT(DISTINCT m.user_id)")} AS members,
{count(f"COUNT(DISTINCT {cat.col('u', 'user_id')})")} AS active_users
FROM members AS m LEFT JOIN {cat.table(scope.users)} AS u ON {on_same_day(cat, scope, "u")}
GROUP BY m.scope_id, m.team_id, m.team_slug, m.day
"""
    return View(scope.view("team_active_users_by_day"), sql)


def team_usage_by_week(cat: Catalog, scope: Scope, team_members: str) -> View:
    """Per team and week: distinct active members, summed counters, completion acceptance."""
    users = scope.users
    totals = [(f"SUM({cat.col_or_null(users, 'u', name, 'BIGINT')})", name) for name in SUMMED]
    sums = ",\n".join(f"{count(total)} AS {name}" for total, name in totals)
    features = scope.breakdown("totals_by_feature")
    has_features = cat.has(features, scope.id_column, "day", "user_id", "feature", "code_acceptance_activity_count")
    completion = (
        f"""SELECT m.scope_id, m.team_id, m.team_slug, {week_start("m.day")} AS week_start,
    SUM({cat.col("f", "code_acceptance_activity_count")}) AS accepted,
    SUM({cat.col("f", "code_generation_activity_count")}) AS generated
    FROM members AS m JOIN {cat.table(features)} AS f ON {on_same_day(cat, scope, "f")}
    WHERE {cat.col("f", "feature")} = 'code_completion'
    GROUP BY 1, 2, 3, 4"""
        if has_features
        else "SELECT CAST(NULL AS TEXT) AS scope_id, CAST(NULL AS BIGINT) AS team_id, CAST(NULL AS TEXT) AS team_slug,"
        " CAST(NULL AS DATE) AS week_start, CAST(NULL AS BIGINT) AS accepted, CAST(NULL AS BIGINT) AS generated"
    )
    sql = f"""
WITH members AS ({team_members}),
activity AS (
    SELECT m.scope_id, m.team_id, m.team_slug, {week_start("m.day")} AS week_start,
    {count(f"COUNT(DISTINCT {cat.col('u', 'user_id')})")} AS active_users,
    {sums}
    FROM members AS m JOIN {cat.table(users)} AS u ON {on_same_day(cat, scope, "u")}
    GROUP BY 1, 2, 3, 4
),
completion AS ({completion})
SELECT a.scope_id AS {scope.id_column}, a.team_id, a.team_slug, a.week_start, a.active_users,
{", ".join(f"a.{name}" for name in SUMMED)},
{ratio("c.accepted", "c.generated")} AS completion_acceptance_rate
FROM activity AS a LEFT JOIN completion AS c
ON c.scope_id = a.scope_id AND c.team_id = a.team_id AND c.week_start = a.week_start
AND COALESCE(c.team_slug, '') = COALESCE(a.team_slug, '')
"""
    return View(scope.view("team_usage_by_week"), sql)


def team_views(cat: Catalog, scope: Scope) -> list[View]:
    team_members = members(cat, scope)
    if team_members is None or not cat.has(scope.users, scope.id_column, "day", "user_id"):
        return []
    return [team_active_users_by_day(cat, scope, team_members), team_usage_by_week(cat, scope, team_members)]
