"""AI-credit views: what people used (users-1-day `ai_credits_used`, per person and team) and what
GitHub billed (the billing export's per-person lines, per person and model). One credit = USD 0.01.
"""

from __future__ import annotations

from copilot_source.analytics.catalog import Catalog
from copilot_source.analytics.scopes import CREDIT_USAGE, ENTERPRISE, Scope
from copilot_source.analytics.sql import USD_PER_CREDIT, View, count, month_start
from copilot_source.analytics.team_views import members, on_same_day

CREDITS = "ai_credits_used"


def ai_credits_by_user(cat: Catalog, scope: Scope) -> View:
    """Credits each person used per calendar month, named by their newest login."""
    c = cat.col
    users = cat.table(scope.users)
    sql = f"""
WITH logins AS (
    SELECT {c("l", scope.id_column)} AS scope_id, {c("l", "user_id")} AS user_id,
    {cat.col_or_null(scope.users, "l", "user_login", "TEXT")} AS user_login,
    ROW_NUMBER() OVER (PARTITION BY {c("l", scope.id_column)}, {c("l", "user_id")}
                       ORDER BY {c("l", "day")} DESC NULLS LAST) AS newest
    FROM {users} AS l
),
used AS (
    SELECT {c("u", scope.id_column)} AS scope_id, {month_start(c("u", "day"))} AS month_start,
    {c("u", "user_id")} AS user_id, SUM({c("u", CREDITS)}) AS credits
    FROM {users} AS u WHERE {c("u", CREDITS)} IS NOT NULL
    GROUP BY 1, 2, 3
)
SELECT used.scope_id AS {scope.id_column}, used.month_start, used.user_id, logins.user_login,
used.credits AS ai_credits_used, used.credits * {USD_PER_CREDIT} AS ai_credits_usd
FROM used LEFT JOIN logins
ON logins.scope_id = used.scope_id AND logins.user_id = used.user_id AND logins.newest = 1
"""
    return View(scope.view("ai_credits_by_user"), sql)


def ai_credits_by_team(cat: Catalog, scope: Scope, team_members: str) -> View:
    """Credits a team's members used per month, on the days they were on the team."""
    c = cat.col
    sql = f"""
WITH members AS ({team_members})
SELECT m.scope_id AS {scope.id_column}, m.team_id, m.team_slug, {month_start("m.day")} AS month_start,
{count(f"COUNT(DISTINCT {c('u', 'user_id')})")} AS users,
SUM({c("u", CREDITS)}) AS ai_credits_used, SUM({c("u", CREDITS)}) * {USD_PER_CREDIT} AS ai_credits_usd
FROM members AS m JOIN {cat.table(scope.users)} AS u ON {on_same_day(cat, scope, "u")}
WHERE {c("u", CREDITS)} IS NOT NULL
GROUP BY 1, 2, 3, 4
"""
    return View(scope.view("ai_credits_by_team"), sql)


def _billed_sums(cat: Catalog) -> str:
    table = CREDIT_USAGE
    return ",\n".join(
        f"SUM({cat.col_or_null(table, 'b', column, 'DOUBLE')}) AS {name}"
        for column, name in (
            ("quantity", "ai_credits"),
            ("gross_amount", "gross_usd"),
            ("discount_amount", "discount_usd"),
            ("net_amount", "net_usd"),
        )
    )


def ai_credits_billed_by_user(cat: Catalog) -> View:
    c = cat.col
    sql = f"""
SELECT {month_start(c("b", "day"))} AS month_start, {c("b", "username")} AS user_login,
{_billed_sums(cat)}
FROM {cat.table(CREDIT_USAGE)} AS b
GROUP BY 1, 2
"""
    return View("ai_credits_billed_by_user", sql)


def ai_credits_billed_by_model(cat: Catalog) -> View:
    c = cat.col
    sql = f"""
SELECT {month_start(c("b", "day"))} AS month_start, {c("b", "model")} AS model,
{count(f"COUNT(DISTINCT {c('b', 'username')})")} AS users,
{_billed_sums(cat)}
FROM {cat.table(CREDIT_USAGE)} AS b
GROUP BY 1, 2
"""
    return View("ai_credits_billed_by_model", sql)


def credit_views(cat: Catalog, scope: Scope) -> list[View]:
    views: list[View] = []
    if cat.has(scope.users, scope.id_column, "day", "user_id", CREDITS):
        views.append(ai_credits_by_user(cat, scope))
        team_members = members(cat, scope)
        if team_members is not None:
            views.append(ai_credits_by_team(cat, scope, team_members))
    if scope is ENTERPRISE and cat.has(CREDIT_USAGE, "day", "username", "quantity"):
        views.append(ai_credits_billed_by_user(cat))
        if cat.has(CREDIT_USAGE, "model"):
            views.append(ai_credits_billed_by_model(cat))
    return views
