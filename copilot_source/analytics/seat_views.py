"""Seat views: utilisation and idle people from the seat snapshots, seats per organization and
team, and seat changes from the `seats` history.

A person holding two seats (through two organizations or teams) counts once: seats are grouped
by person, and their newest `last_activity_at` over all their seats is their last activity. The
reference day of "active in the last N days" is the snapshot's own day, never the wall clock, so
the numbers are reproducible.
"""

from __future__ import annotations

from copilot_source.analytics.catalog import Catalog
from copilot_source.analytics.scopes import ENTERPRISE, Scope
from copilot_source.analytics.sql import View, count, days_between, ratio, utc_day

IDLE_DAYS = 30
# dlt's scd2 columns on `seats`
VALID_FROM = "_dlt_valid_from"
VALID_TO = "_dlt_valid_to"


def _person(cat: Catalog, table: str, alias: str, flat: bool) -> tuple[str, str] | None:
    """The user id and login columns of a seat table (a `user_id` column wins when present)."""
    user = cat.has_any(table, "user_id", "assignee_id" if flat else "assignee__id")
    if user is None:
        return None
    login = cat.has_any(table, "user_login", "assignee_login" if flat else "assignee__login")
    login_sql = cat.col(alias, login) if login else "CAST(NULL AS TEXT)"
    return cat.col(alias, user), login_sql


def scope_ids(cat: Catalog, scope: Scope) -> str:
    """A one-row query naming the enterprise: the seat list does not carry its id, the reports do."""
    for table in (scope.users, scope.metrics):
        if cat.has(table, scope.id_column):
            return f"SELECT MIN({cat.col('r', scope.id_column)}) AS scope_id FROM {cat.table(table)} AS r"
    return "SELECT CAST(NULL AS TEXT) AS scope_id"


def _scope_of(cat: Catalog, scope: Scope, table: str, alias: str, flat: bool) -> tuple[str, str] | None:
    """(FROM addition, id expression) placing a seat row in its scope."""
    if scope is ENTERPRISE:
        return f"CROSS JOIN ({scope_ids(cat, scope)}) AS ids", "ids.scope_id"
    column = cat.has_any(table, "organization_id" if flat else "organization__id", "organization_id")
    if column is None:
        return None
    return "", f"CAST({cat.col(alias, column)} AS TEXT)"


def _people(cat: Catalog, scope: Scope) -> str | None:
    """Per snapshot day and person: their seats and their newest activity."""
    table = scope.seat_activity
    if not cat.has(table, "snapshot_day", "last_activity_at"):
        return None
    person = _person(cat, table, "a", flat=True)
    placed = _scope_of(cat, scope, table, "a", flat=True)
    if person is None or placed is None:
        return None
    user, login = person
    join, scope_id = placed
    return f"""SELECT {scope_id} AS scope_id, {cat.col("a", "snapshot_day")} AS snapshot_day, {user} AS user_id,
    MAX({login}) AS user_login, MAX({cat.col("a", "last_activity_at")}) AS last_activity_at, COUNT(*) AS seats
    FROM {cat.table(table)} AS a {join}
    WHERE {user} IS NOT NULL
    GROUP BY 1, 2, 3"""


def seat_utilization(cat: Catalog, scope: Scope, people: str) -> View:
    """Per snapshot day: seats, seated people, and how many were active in the last 7 / 28 days."""
    idle = f"p.last_activity_at IS NULL OR p.days_since >= {IDLE_DAYS}"
    sql = f"""
WITH people AS ({people}),
aged AS (SELECT p.*, {days_between(utc_day("p.last_activity_at"), "p.snapshot_day")} AS days_since FROM people AS p),
counted AS (
    SELECT p.scope_id, p.snapshot_day, SUM(p.seats) AS seats, COUNT(*) AS seated_users,
    SUM(CASE WHEN p.days_since <= 6 THEN 1 ELSE 0 END) AS active_7d,
    SUM(CASE WHEN p.days_since <= 27 THEN 1 ELSE 0 END) AS active_28d,
    SUM(CASE WHEN {idle} THEN 1 ELSE 0 END) AS idle_30d
    FROM aged AS p GROUP BY p.scope_id, p.snapshot_day
)
SELECT scope_id AS {scope.id_column}, snapshot_day, {count("seats")} AS seats, {count("seated_users")} AS seated_users,
{count("active_7d")} AS active_users_7d, {count("active_28d")} AS active_users_28d,
{count("idle_30d")} AS idle_users_30d,
{ratio("active_7d", "seated_users")} AS utilization_7d,
{ratio("active_28d", "seated_users")} AS utilization_28d
FROM counted
"""
    return View(scope.view("seat_utilization"), sql)


def idle_seats(cat: Catalog, scope: Scope, people: str) -> View:
    """Seated people of the newest snapshot without activity in the 30 days up to its day."""
    newest = f"SELECT MAX({cat.col('s', 'snapshot_day')}) FROM {cat.table(scope.seat_activity)} AS s"
    sql = f"""
WITH people AS ({people}),
aged AS (
    SELECT p.*, {days_between(utc_day("p.last_activity_at"), "p.snapshot_day")} AS days_since
    FROM people AS p WHERE p.snapshot_day = ({newest})
)
SELECT scope_id AS {scope.id_column}, user_id, user_login, last_activity_at, {count("days_since")} AS days_idle
FROM aged
WHERE last_activity_at IS NULL OR days_since >= {IDLE_DAYS}
"""
    return View(scope.view("idle_seats"), sql)


def _current(cat: Catalog, table: str) -> str:
    """Current assignments: the open scd2 versions (or every row where the table is a snapshot)."""
    return f"{cat.col('s', VALID_TO)} IS NULL" if cat.has(table, VALID_TO) else "1 = 1"


def seats_by_organization(cat: Catalog, scope: Scope) -> View | None:
    table = scope.seats
    person = _person(cat, table, "s", flat=False)
    placed = _scope_of(cat, scope, table, "s", flat=False)
    if person is None or placed is None or not cat.has(table, "organization__id"):
        return None
    join, scope_id = placed
    login = cat.col_or_null(table, "s", "organization__login", "TEXT")
    sql = f"""
SELECT {scope_id} AS {scope.id_column}, {cat.col("s", "organization__id")} AS organization_id,
MAX({login}) AS organization_login, {count("COUNT(*)")} AS seats,
{count(f"COUNT(DISTINCT {person[0]})")} AS seated_users
FROM {cat.table(table)} AS s {join}
WHERE {_current(cat, table)}
GROUP BY 1, 2
"""
    return View(scope.view("seats_by_organization"), sql)


def seats_by_team(cat: Catalog, scope: Scope) -> View | None:
    """Seats granted through a team (direct assignments have no team and are left out)."""
    table = scope.seats
    person = _person(cat, table, "s", flat=False)
    placed = _scope_of(cat, scope, table, "s", flat=False)
    if person is None or placed is None or not cat.has(table, "assigning_team__id"):
        return None
    join, scope_id = placed
    team = cat.col("s", "assigning_team__id")
    # the enterprise's teams belong to organizations; an organization's scope id is its own
    organization = (
        ""
        if scope.id_column == "organization_id"
        else f"{cat.col_or_null(table, 's', 'organization__id', 'BIGINT')} AS organization_id,"
    )
    groups = "1, 2" if not organization else "1, 2, 3"
    sql = f"""
SELECT {scope_id} AS {scope.id_column}, {organization}
{team} AS team_id, MAX({cat.col_or_null(table, "s", "assigning_team__slug", "TEXT")}) AS team_slug,
{count("COUNT(*)")} AS seats, {count(f"COUNT(DISTINCT {person[0]})")} AS seated_users
FROM {cat.table(table)} AS s {join}
WHERE {_current(cat, table)} AND {team} IS NOT NULL
GROUP BY {groups}
"""
    return View(scope.view("seats_by_team"), sql)


def _versions(cat: Catalog, scope: Scope) -> str | None:
    """Each version of each seat in the scd2 history, with its neighbours' boundaries."""
    table = scope.seats
    if not cat.has(table, "seat_key", VALID_FROM, VALID_TO):
        return None
    person = _person(cat, table, "s", flat=False)
    placed = _scope_of(cat, scope, table, "s", flat=False)
    if person is None or placed is None:
        return None
    join, scope_id = placed
    key, start, end = cat.col("s", "seat_key"), cat.col("s", VALID_FROM), cat.col("s", VALID_TO)
    order = f"PARTITION BY {scope_id}, {key} ORDER BY {start} NULLS FIRST"
    return f"""SELECT {scope_id} AS scope_id, {key} AS seat_key, {start} AS valid_from, {end} AS valid_to,
    {person[0]} AS user_id, {person[1]} AS user_login,
    {cat.col_or_null(table, "s", "organization__id", "BIGINT")} AS organization_id,
    {cat.col_or_null(table, "s", "assigning_team__id", "BIGINT")} AS team_id,
    {cat.col_or_null(table, "s", "plan_type", "TEXT")} AS plan_type,
    LAG({end}) OVER ({order}) AS previous_valid_to,
    LEAD({start}) OVER ({order}) AS next_valid_from
    FROM {cat.table(table)} AS s {join}"""


def seat_changes(cat: Catalog, scope: Scope, versions: str) -> View:
    """One row per change: a seat first seen ('added'), re-versioned ('changed') or gone ('removed')."""
    fields = "scope_id, seat_key, user_id, user_login, organization_id, team_id, plan_type"
    # an organization's scope id is its own organization: not a second column of that name
    organization = "" if scope.id_column == "organization_id" else " organization_id,"
    sql = f"""
WITH versions AS ({versions}),
changes AS (
    SELECT valid_from AS changed_at,
    CASE WHEN previous_valid_to IS NOT NULL AND previous_valid_to = valid_from THEN 'changed' ELSE 'added' END
        AS change, {fields}
    FROM versions
    UNION ALL
    SELECT valid_to AS changed_at, 'removed' AS change, {fields}
    FROM versions
    WHERE valid_to IS NOT NULL AND (next_valid_from IS NULL OR next_valid_from <> valid_to)
)
SELECT scope_id AS {scope.id_column}, changed_at, change, seat_key, user_id, user_login,{organization} team_id,
plan_type
FROM changes
"""
    return View(scope.view("seat_changes"), sql)


def seat_changes_by_day(cat: Catalog, scope: Scope, versions: str) -> View:
    """Seat changes counted per UTC day of the run that saw them."""
    changes = seat_changes(cat, scope, versions).sql
    sql = f"""
SELECT {scope.id_column}, {utc_day("changed_at")} AS day,
{count("SUM(CASE WHEN change = 'added' THEN 1 ELSE 0 END)")} AS seats_added,
{count("SUM(CASE WHEN change = 'removed' THEN 1 ELSE 0 END)")} AS seats_removed,
{count("SUM(CASE WHEN change = 'changed' THEN 1 ELSE 0 END)")} AS seats_changed
FROM ({changes}) AS c
GROUP BY 1, 2
"""
    return View(scope.view("seat_changes_by_day"), sql)


def seat_holders(cat: Catalog, scope: Scope) -> View | None:
    """One row per person holding a current seat, their seats' organizations and teams gathered:
    join usage to this (on `user_id`), not to the seat rows, and each person counts once.

    Each list is made from distinct values first: T-SQL has no STRING_AGG(DISTINCT ...), and
    BigQuery's takes no NULLS LAST (the NULLs are left out before, so NULLS FIRST is harmless)."""
    table = scope.seats
    person = _person(cat, table, "s", flat=False)
    placed = _scope_of(cat, scope, table, "s", flat=False)
    if person is None or placed is None:
        return None
    join, scope_id = placed
    held = {
        "organizations": cat.col_or_null(table, "s", "organization__login", "TEXT"),
        "teams": cat.col_or_null(table, "s", "assigning_team__slug", "TEXT"),
        "plan_types": cat.col_or_null(table, "s", "plan_type", "TEXT"),
    }
    columns = ", ".join(f"{expression} AS {name}" for name, expression in held.items())
    lists = "".join(
        f""",
{name} AS (SELECT scope_id, user_id, STRING_AGG({name}, ', ' ORDER BY {name} NULLS FIRST) AS {name}
FROM (SELECT DISTINCT scope_id, user_id, {name} FROM held WHERE {name} IS NOT NULL) AS d GROUP BY 1, 2)"""
        for name in held
    )
    joins = "".join(
        f"\nLEFT JOIN {name} ON {name}.user_id = p.user_id AND COALESCE({name}.scope_id, '') = COALESCE(p.scope_id, '')"
        for name in held
    )
    sql = f"""
WITH held AS (
SELECT {scope_id} AS scope_id, {person[0]} AS user_id, {person[1]} AS user_login, {columns}
FROM {cat.table(table)} AS s {join}
WHERE {_current(cat, table)}),
people AS (SELECT scope_id, user_id, MAX(user_login) AS user_login, {count("COUNT(*)")} AS seats
FROM held GROUP BY 1, 2){lists}
SELECT p.scope_id AS {scope.id_column}, p.user_id, p.user_login, p.seats,
{", ".join(f"{name}.{name}" for name in held)}
FROM people AS p{joins}
"""
    return View(scope.view("seat_holders"), sql)


def seat_views(cat: Catalog, scope: Scope) -> list[View]:
    views: list[View | None] = [seat_holders(cat, scope)]
    people = _people(cat, scope)
    if people is not None:
        views += [seat_utilization(cat, scope, people), idle_seats(cat, scope, people)]
    if scope is ENTERPRISE:
        views.append(seats_by_organization(cat, scope))
    views.append(seats_by_team(cat, scope))
    versions = _versions(cat, scope)
    if versions is not None:
        views += [seat_changes(cat, scope, versions), seat_changes_by_day(cat, scope, versions)]
    return [view for view in views if view is not None]
