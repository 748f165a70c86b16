"""Usage views over the users-1-day tables: active users, adoption, acceptance, lines, breakdowns.

Distinct-user counts are always recomputed over their window (never sums of daily counts), and a
person counts once however many rows they have. Definitions follow GitHub's dashboard (see
docs/analytics.md).
"""

from __future__ import annotations

from copilot_source.analytics.catalog import Catalog
from copilot_source.analytics.scopes import Scope
from copilot_source.analytics.sql import View, count, month_start, ratio, shift_days, week_start

COUNTERS = (
    "user_initiated_interaction_count",
    "code_generation_activity_count",
    "code_acceptance_activity_count",
    "loc_suggested_to_add_sum",
    "loc_added_sum",
    "loc_deleted_sum",
)
# view name -> (breakdown table, dimension column)
DIMENSIONS = {
    "ide_usage_by_week": ("totals_by_ide", "ide"),
    "language_usage_by_week": ("totals_by_language_feature", "language"),
    "model_usage_by_week": ("totals_by_model_feature", "model"),
    "feature_usage_by_week": ("totals_by_feature", "feature"),
}
AGENT_FEATURES = "('agent_edit', 'chat_panel_agent_mode')"
# rolling windows besides the day itself: a user active on day a counts for days a .. a+n-1
WINDOWS = (7, 28)


def calendar(cat: Catalog, scope: Scope) -> str:
    """The report days loaded for each scope id: days with user rows or an aggregate row."""
    days = f"SELECT DISTINCT {cat.col('u', scope.id_column)} AS scope_id, {cat.col('u', 'day')} AS day"
    sql = f"{days} FROM {cat.table(scope.users)} AS u"
    if cat.has(scope.metrics, scope.id_column, "day"):
        sql += f" UNION {days} FROM {cat.table(scope.metrics)} AS u"
    return sql


def active_users_by_day(cat: Catalog, scope: Scope) -> View:
    """Distinct users that day, and over the trailing 7 and 28 days ending that day.

    The windows are counted with a sweep, so the cost grows with the rows, not rows x window:
    a user's active day `a` adds one to the windows of days a .. a+n-1; when the same user is
    active again before that, the next active day takes over (it adds one itself).
    """
    u = cat.table(scope.users)
    col = cat.col
    changes = []
    for n in WINDOWS:
        end = shift_days("day", n)
        leaves = f"CASE WHEN next_day IS NOT NULL AND next_day < {end} THEN next_day ELSE {end} END"
        deltas = ", ".join("-1" if m == n else "0" for m in WINDOWS)
        changes.append(f"SELECT scope_id, {leaves} AS day, {deltas} FROM spans")
    running = ",\n".join(
        f"SUM(COALESCE(c.change_{n}d, 0)) OVER (PARTITION BY g.scope_id ORDER BY g.day NULLS FIRST"
        f" ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS users_{n}d"
        for n in WINDOWS
    )
    windows = ",\n".join(
        f"CASE WHEN {shift_days('c.day', -(n - 1))} >= f.first_day THEN {count(f'r.users_{n}d')} END"
        f" AS active_users_{n}d"
        for n in WINDOWS
    )
    sql = f"""
WITH calendar AS ({calendar(cat, scope)}),
first_days AS (SELECT scope_id, MIN(day) AS first_day FROM calendar GROUP BY scope_id),
user_days AS (
    SELECT DISTINCT {col("u", scope.id_column)} AS scope_id, {col("u", "day")} AS day, {col("u", "user_id")} AS user_id
    FROM {u} AS u WHERE {col("u", "user_id")} IS NOT NULL
),
spans AS (
    SELECT scope_id, day,
    LEAD(day) OVER (PARTITION BY scope_id, user_id ORDER BY day NULLS FIRST) AS next_day
    FROM user_days
),
changes AS (
    SELECT scope_id, day, {", ".join(f"1 AS change_{n}d" for n in WINDOWS)} FROM spans
    UNION ALL {" UNION ALL ".join(changes)}
),
changes_by_day AS (
    SELECT scope_id, day, {", ".join(f"SUM(change_{n}d) AS change_{n}d" for n in WINDOWS)}
    FROM changes GROUP BY scope_id, day
),
grid AS (SELECT scope_id, day FROM calendar UNION SELECT scope_id, day FROM changes_by_day),
running AS (
    SELECT g.scope_id, g.day,
    {running}
    FROM grid AS g LEFT JOIN changes_by_day AS c ON c.scope_id = g.scope_id AND c.day = g.day
),
daily AS (SELECT scope_id, day, COUNT(DISTINCT user_id) AS users_1d FROM user_days GROUP BY scope_id, day)
SELECT c.scope_id AS {scope.id_column}, c.day AS day,
{count("COALESCE(d.users_1d, 0)")} AS active_users,
{windows}
FROM calendar AS c
JOIN first_days AS f ON f.scope_id = c.scope_id
JOIN running AS r ON r.scope_id = c.scope_id AND r.day = c.day
LEFT JOIN daily AS d ON d.scope_id = c.scope_id AND d.day = c.day
"""
    return View(scope.view("active_users_by_day"), sql)


def _feature_flags(cat: Catalog, scope: Scope) -> str | None:
    """Per user and day: whether their feature rows show agent, chat or CLI use."""
    table = scope.breakdown("totals_by_feature")
    if not cat.has(table, scope.id_column, "day", "user_id", "feature"):
        return None
    feature = cat.col("f", "feature")
    return f"""SELECT {cat.col("f", scope.id_column)} AS scope_id, {cat.col("f", "day")} AS day,
    {cat.col("f", "user_id")} AS user_id,
    MAX(CASE WHEN {feature} IN {AGENT_FEATURES} THEN 1 ELSE 0 END) AS agent,
    MAX(CASE WHEN {feature} LIKE 'chat%' THEN 1 ELSE 0 END) AS chat,
    MAX(CASE WHEN {feature} = 'copilot_cli' THEN 1 ELSE 0 END) AS cli
    FROM {cat.table(table)} AS f GROUP BY 1, 2, 3"""


def adoption_by_month(cat: Catalog, scope: Scope) -> View:
    """Distinct users per calendar month, and how many of them used agents, chat and the CLI.

    A person used a surface when GitHub's flag says so (`used_agent`, `used_chat`, `used_cli`)
    or when they have a feature row for it (agent: agent_edit or chat_panel_agent_mode; chat:
    chat_*; CLI: copilot_cli).
    """
    users = scope.users
    flags = _feature_flags(cat, scope)
    join = ""
    surfaces = {}
    for surface in ("agent", "chat", "cli"):
        flag = cat.col_or_null(users, "u", f"used_{surface}", "BOOLEAN")
        from_rows = f" OR COALESCE(fl.{surface}, 0) = 1" if flags else ""
        surfaces[surface] = f"CASE WHEN COALESCE({flag}, FALSE){from_rows} THEN 1 ELSE 0 END AS {surface}"
    if flags:
        join = (
            f"LEFT JOIN flags AS fl ON fl.scope_id = {cat.col('u', scope.id_column)}"
            f" AND fl.day = {cat.col('u', 'day')} AND fl.user_id = {cat.col('u', 'user_id')}"
        )
    with_flags = f"flags AS ({flags})," if flags else ""
    sql = f"""
WITH calendar AS ({calendar(cat, scope)}),
{with_flags}
user_days AS (
    SELECT {cat.col("u", scope.id_column)} AS scope_id, {month_start(cat.col("u", "day"))} AS month_start,
    {cat.col("u", "user_id")} AS user_id, {", ".join(surfaces.values())}
    FROM {cat.table(users)} AS u {join}
),
months AS (
    SELECT scope_id, {month_start("day")} AS month_start, MIN(day) AS first_day, MAX(day) AS last_day
    FROM calendar GROUP BY scope_id, {month_start("day")}
),
counted AS (
    SELECT m.scope_id, m.month_start, m.first_day, m.last_day,
    {count("COUNT(DISTINCT ud.user_id)")} AS active_users,
    {count("COUNT(DISTINCT CASE WHEN ud.agent = 1 THEN ud.user_id END)")} AS agent_users,
    {count("COUNT(DISTINCT CASE WHEN ud.chat = 1 THEN ud.user_id END)")} AS chat_users,
    {count("COUNT(DISTINCT CASE WHEN ud.cli = 1 THEN ud.user_id END)")} AS cli_users
    FROM months AS m
    LEFT JOIN user_days AS ud ON ud.scope_id = m.scope_id AND ud.month_start = m.month_start
    GROUP BY m.scope_id, m.month_start, m.first_day, m.last_day
)
SELECT scope_id AS {scope.id_column}, month_start, first_day, last_day,
active_users, agent_users, chat_users, cli_users,
{ratio("agent_users", "active_users")} AS agent_adoption,
{ratio("chat_users", "active_users")} AS chat_adoption,
{ratio("cli_users", "active_users")} AS cli_adoption
FROM counted
"""
    return View(scope.view("adoption_by_month"), sql)


def acceptance_by_week(cat: Catalog, scope: Scope) -> View:
    """Code-completion acceptance by count, and acceptance by lines without agent edits."""
    table = scope.breakdown("totals_by_feature")
    f = cat.col
    completion = f"{f('f', 'feature')} = 'code_completion'"
    not_agent = f"COALESCE({f('f', 'feature')}, '') <> 'agent_edit'"
    sql = f"""
SELECT {f("f", scope.id_column)} AS {scope.id_column}, {week_start(f("f", "day"))} AS week_start,
{
        ratio(
            f"SUM(CASE WHEN {completion} THEN {f('f', 'code_acceptance_activity_count')} END)",
            f"SUM(CASE WHEN {completion} THEN {f('f', 'code_generation_activity_count')} END)",
        )
    }
    AS completion_acceptance_rate,
{
        ratio(
            f"SUM(CASE WHEN {not_agent} THEN {f('f', 'loc_added_sum')} END)",
            f"SUM(CASE WHEN {not_agent} THEN {f('f', 'loc_suggested_to_add_sum')} END)",
        )
    }
    AS line_acceptance_rate
FROM {cat.table(table)} AS f
GROUP BY 1, 2
"""
    return View(scope.view("acceptance_by_week"), sql)


def lines_of_code_by_week(cat: Catalog, scope: Scope) -> View:
    """Lines added and deleted (the users' totals), and the part agent edits wrote."""
    users = scope.users
    c = cat.col
    features = scope.breakdown("totals_by_feature")
    has_agent = cat.has(features, scope.id_column, "day", "feature", "loc_added_sum", "loc_deleted_sum")
    agent = (
        f"""SELECT {c("f", scope.id_column)} AS scope_id, {week_start(c("f", "day"))} AS week_start,
    SUM(CASE WHEN {c("f", "feature")} = 'agent_edit' THEN {c("f", "loc_added_sum")} ELSE 0 END) AS added,
    SUM(CASE WHEN {c("f", "feature")} = 'agent_edit' THEN {c("f", "loc_deleted_sum")} ELSE 0 END) AS deleted
    FROM {cat.table(features)} AS f GROUP BY 1, 2"""
        if has_agent
        else "SELECT CAST(NULL AS TEXT) AS scope_id, CAST(NULL AS DATE) AS week_start,"
        " CAST(NULL AS BIGINT) AS added, CAST(NULL AS BIGINT) AS deleted"
    )
    sql = f"""
WITH totals AS (
    SELECT {c("u", scope.id_column)} AS scope_id, {week_start(c("u", "day"))} AS week_start,
    SUM({cat.col_or_null(users, "u", "loc_added_sum", "BIGINT")}) AS added,
    SUM({cat.col_or_null(users, "u", "loc_deleted_sum", "BIGINT")}) AS deleted
    FROM {cat.table(users)} AS u GROUP BY 1, 2
),
agent AS ({agent})
SELECT t.scope_id AS {scope.id_column}, t.week_start,
{count("t.added")} AS loc_added, {count("t.deleted")} AS loc_deleted,
{count("a.added")} AS agent_loc_added, {count("a.deleted")} AS agent_loc_deleted,
{ratio("a.added", "t.added")} AS agent_share_of_lines_added,
{ratio("a.added + a.deleted", "t.added + t.deleted")} AS agent_share_of_lines_changed
FROM totals AS t LEFT JOIN agent AS a ON a.scope_id = t.scope_id AND a.week_start = t.week_start
"""
    return View(scope.view("lines_of_code_by_week"), sql)


def dimension_usage_by_week(cat: Catalog, scope: Scope, name: str) -> View | None:
    """Distinct users and summed counters per week and value of one breakdown dimension."""
    breakdown, dimension = DIMENSIONS[name]
    table = scope.breakdown(breakdown)
    if not cat.has(table, scope.id_column, "day", "user_id", dimension):
        return None
    c = cat.col
    sums = [(f"SUM({cat.col_or_null(table, 'b', n, 'BIGINT')})", n) for n in COUNTERS]
    counters = ",\n".join(f"{count(total)} AS {n}" for total, n in sums)
    sql = f"""
SELECT {c("b", scope.id_column)} AS {scope.id_column}, {week_start(c("b", "day"))} AS week_start,
{c("b", dimension)} AS {dimension},
{count(f"COUNT(DISTINCT {c('b', 'user_id')})")} AS active_users,
{counters}
FROM {cat.table(table)} AS b
GROUP BY 1, 2, 3
"""
    return View(scope.view(name), sql)


def usage_views(cat: Catalog, scope: Scope) -> list[View]:
    if not cat.has(scope.users, scope.id_column, "day", "user_id"):
        return []
    views = [active_users_by_day(cat, scope), adoption_by_month(cat, scope), lines_of_code_by_week(cat, scope)]
    features = scope.breakdown("totals_by_feature")
    if cat.has(features, scope.id_column, "day", "feature", *COUNTERS[1:]):
        views.append(acceptance_by_week(cat, scope))
    for name in DIMENSIONS:
        view = dimension_usage_by_week(cat, scope, name)
        if view is not None:
            views.append(view)
    return views
