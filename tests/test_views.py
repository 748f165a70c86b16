"""The analytics views hold the numbers computed here from what the fake GitHub served.

One fake enterprise is loaded by the real source into DuckDB and into a real PostgreSQL server,
together with the tables other work is adding (organization reports, team membership, AI-credit
billing), loaded with dlt in the layout the source gives report tables. Every expectation is
computed in Python from the fake's JSON lines and seat lists, never by running the views' SQL.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest
import sqlglot

from copilot_source.analytics import create_views, plan_views
from copilot_source.analytics.catalog import Catalog
from copilot_source.analytics.scopes import wanted_tables
from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.demo.fake_github.billing import credit_lines
from copilot_source.demo.fake_github.data import BREAKDOWNS, FakeEnterprise
from copilot_source.demo.fake_github.orgs import org_id, org_user_lines, user_team_lines
from tests.conftest import NEWEST, TODAY, TOKEN, report_lines, run, small_enterprise
from tests.postgres import running_postgres

FIRST = NEWEST - timedelta(days=39)
HOLE = NEWEST - timedelta(days=17)
RENAMED = 1002
ORG_COUNT = 3


def direct_seat(user_id: int) -> str:
    """The key of a person's direct seat (the fake grants it through organization (id - 1001) % 3)."""
    return f"{user_id}:{500 + (user_id - 1001) % ORG_COUNT}:"


REMOVED_SEAT = direct_seat(1004)
PLAN_CHANGED_SEAT = direct_seat(1006)
DESTINATIONS = ["duckdb", "postgres"]


def view_enterprise() -> FakeEnterprise:
    return small_enterprise(
        user_count=30,
        org_count=ORG_COUNT,
        first_report_day=FIRST,
        unavailable_days={HOLE},
        idle_after=NEWEST - timedelta(days=35),
        renamed_logins={RENAMED: (NEWEST - timedelta(days=5), "renamed-dev")},
        new_fields_from={"ai_credits_used": NEWEST - timedelta(days=15)},
        # seat activity on both sides of each boundary: 7, 28 and 30 days before the snapshot
        last_activity={1010 + i: TODAY - timedelta(days=ago) for i, ago in enumerate((6, 7, 27, 28, 29, 30))},
    )


@dataclass
class Loaded:
    """A pipeline holding the fake's data, and what the fake served it."""

    pipeline: dlt.Pipeline
    enterprise: FakeEnterprise
    seats_before: list[dict[str, Any]]
    seats_after: list[dict[str, Any]]
    views: list[str]
    lines: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    # the enterprise as the first run saw it: organization and team reports follow its seats
    before: FakeEnterprise | None = None

    def query(self, view: str, order: str = "1, 2") -> list[dict[str, Any]]:
        with self.pipeline.sql_client() as client:
            sql = f"SELECT * FROM {client.make_qualified_table_name(view)} ORDER BY {order}"
            with client.execute_query(sql) as cursor:
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# ---- the tables other work adds, in the source's layout -------------------------------------------
def report_tables(table: str, id_column: str, lines: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """A report's lines as the source lays them out: the line, and one table per array whose rows
    carry the line's key and `list_index`."""
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        day = date.fromisoformat(line["day"])
        tables[table].append({**{k: v for k, v in line.items() if not isinstance(v, list)}, "day": day})
        for name in BREAKDOWNS:
            for index, element in enumerate(line[name]):
                key = {"day": day, id_column: line[id_column], "user_id": line["user_id"], "list_index": index}
                tables[f"{table}__{name}"].append({**key, **element})
    return tables


def load_tables(pipeline: dlt.Pipeline, tables: dict[str, list[dict[str, Any]]]) -> None:
    resources = [
        dlt.resource(rows, name=name, write_disposition="replace", max_table_nesting=1) for name, rows in tables.items()
    ]
    pipeline.run(resources)


def team_lines(enterprise: FakeEnterprise, days: list[date], scope_org: int | None) -> list[dict[str, Any]]:
    rows = [json.loads(text) for day in days for text in user_team_lines(enterprise, day, scope_org)]
    return [{**row, "day": date.fromisoformat(row["day"])} for row in rows]


def org_lines(enterprise: FakeEnterprise, days: list[date]) -> list[dict[str, Any]]:
    return [json.loads(t) for i in range(enterprise.org_count) for d in days for t in org_user_lines(enterprise, i, d)]


def seat_activity_rows(seats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "snapshot_day": TODAY,
            "seat_key": f"{s['assignee']['id']}:{s['organization']['id']}:",
            "assignee_id": s["assignee"]["id"],
            "assignee_login": s["assignee"]["login"],
            "organization_id": s["organization"]["id"],
            "last_activity_at": parse_ts(s["last_activity_at"]),
        }
        for s in seats
    ]


def parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


# ---- one load per destination ---------------------------------------------------------------------
def load_everything(tmp: Path, destination: Any) -> Loaded:
    enterprise = view_enterprise()
    pipeline = dlt.pipeline(
        pipeline_name=f"views_{uuid.uuid4().hex[:8]}",
        destination=destination,
        dataset_name="copilot_data",
        pipelines_dir=str(tmp / "pipelines"),
    )
    organizations = [f"octo-org-{i}" for i in range(ORG_COUNT)]
    with FakeGitHub(enterprise, token=TOKEN, today=TODAY) as fake:
        seats_before = enterprise.seats(TODAY)
        # everything the source loads: the enterprise, its organizations, teams and AI credits
        run(pipeline, fake, organizations=organizations, billing=True, billing_poll_interval=0.01)
        before = copy.deepcopy(enterprise)
        # GitHub changes seats between two runs: one removed, one moved to another plan
        enterprise.removed_seats.add(REMOVED_SEAT)
        enterprise.plan_changes[PLAN_CHANGED_SEAT] = (
            "enterprise" if seats_plan(seats_before) == "business" else "business"
        )
        run(
            pipeline,
            fake,
            resources=("seats", "seat_activity", "org_seats", "org_seat_activity"),
            organizations=organizations,
        )
        seats_after = enterprise.seats(TODAY)
        days = enterprise.report_days()
        lines = {day: report_lines(fake, "users-1-day", day) for day in days}
    views = create_views(pipeline)
    return Loaded(pipeline, enterprise, seats_before, seats_after, views, lines, before)


def seats_plan(seats: list[dict[str, Any]]) -> str:
    key = PLAN_CHANGED_SEAT.split(":")
    return next(s["plan_type"] for s in seats if str(s["assignee"]["id"]) == key[0] and s["assigning_team"] is None)


@pytest.fixture(scope="module", params=DESTINATIONS)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    tmp = tmp_path_factory.mktemp(request.param)
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith(("SOURCES__", "DESTINATION", "PIPELINES__", "RUNTIME__", "NORMALIZE__")):
                env.delenv(name)
        env.setenv("DLT_DATA_DIR", str(tmp / "dlt_home"))
        env.setenv("RUNTIME__LOG_LEVEL", "WARNING")
        env.setenv("SOURCES__COPILOT__TODAY", TODAY.isoformat())
        env.chdir(tmp)
        if request.param == "duckdb":
            yield load_everything(tmp, dlt.destinations.duckdb(str(tmp / "views.duckdb")))
            return
        with running_postgres() as server:
            url = server.create_database(f"views_{uuid.uuid4().hex[:8]}")
            yield load_everything(tmp, dlt.destinations.postgres(url))


# ---- independent expectations ---------------------------------------------------------------------
def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month(day: date) -> date:
    return day.replace(day=1)


def features_of(line: dict[str, Any]) -> set[str]:
    return {row["feature"] for row in line["totals_by_feature"]}


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def assert_rows(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        for column, value in want.items():
            if isinstance(value, float) or isinstance(row[column], float):
                assert close(float(row[column]) if row[column] is not None else None, value), (column, row, want)
            else:
                assert row[column] == value, (column, row, want)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


# ---- the tests ------------------------------------------------------------------------------------
def test_active_users_by_day_counts_distinct_people_over_each_window(loaded: Loaded) -> None:
    days = sorted(loaded.lines)
    assert HOLE not in days and days[0] == FIRST
    active = {day: {line["user_id"] for line in loaded.lines[day]} for day in days}

    def window(day: date, size: int) -> int | None:
        if day - timedelta(days=size - 1) < days[0]:
            return None
        covered = [d for d in days if day - timedelta(days=size - 1) <= d <= day]
        return len(set().union(*(active[d] for d in covered)))

    expected = [
        {
            "enterprise_id": loaded.enterprise.enterprise_id,
            "day": day,
            "active_users": len(active[day]),
            "active_users_7d": window(day, 7),
            "active_users_28d": window(day, 28),
        }
        for day in days
    ]
    got = loaded.query("active_users_by_day")
    assert list(got[0]) == ["enterprise_id", "day", "active_users", "active_users_7d", "active_users_28d"]
    assert_rows(got, expected)
    # a window is never the sum of daily counts: people active on several days count once
    assert any(row["active_users_7d"] and row["active_users_7d"] < 7 * row["active_users"] / 2 for row in got)


def test_full_windows_equal_githubs_own_weekly_and_monthly_active_users(loaded: Loaded) -> None:
    """Where a window holds no missing day, the view says what GitHub's enterprise report says."""
    days = sorted(loaded.lines)
    by_day = {row["day"]: row for row in loaded.query("active_users_by_day")}
    compared = 0
    for day in days:
        github = json.loads(loaded.enterprise.enterprise_report_lines(day)[0])
        for size, field_name, column in (
            (7, "weekly_active_users", "active_users_7d"),
            (28, "monthly_active_users", "active_users_28d"),
        ):
            window = [day - timedelta(days=n) for n in range(size)]
            if all(d in loaded.lines for d in window):
                assert by_day[day][column] == github[field_name], (day, column)
                compared += 1
    assert compared >= 20


def test_adoption_by_month_counts_people_once_per_calendar_month(loaded: Loaded) -> None:
    months: dict[date, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    spans: dict[date, list[date]] = defaultdict(list)
    for day, lines in sorted(loaded.lines.items()):
        spans[month(day)].append(day)
        for line in lines:
            feats = features_of(line)
            people = months[month(day)]
            people["active"].add(line["user_id"])
            if line["used_agent"] or feats & {"agent_edit", "chat_panel_agent_mode"}:
                people["agent"].add(line["user_id"])
            if line["used_chat"] or any(f.startswith("chat") for f in feats):
                people["chat"].add(line["user_id"])
            if line["used_cli"] or "copilot_cli" in feats:
                people["cli"].add(line["user_id"])
    expected = []
    for start in sorted(months):
        people = months[start]
        row: dict[str, Any] = {"month_start": start, "first_day": min(spans[start]), "last_day": max(spans[start])}
        row["active_users"] = len(people["active"])
        for surface in ("agent", "chat", "cli"):
            row[f"{surface}_users"] = len(people[surface])
            row[f"{surface}_adoption"] = len(people[surface]) / len(people["active"])
        expected.append(row)
    assert_rows(loaded.query("adoption_by_month"), expected)


def test_acceptance_by_week_follows_githubs_definitions(loaded: Loaded) -> None:
    sums: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, lines in loaded.lines.items():
        week = sums[monday(day)]
        for line in lines:
            for row in line["totals_by_feature"]:
                if row["feature"] == "code_completion":
                    week["accepted"] += row["code_acceptance_activity_count"]
                    week["generated"] += row["code_generation_activity_count"]
                if row["feature"] != "agent_edit":
                    week["added"] += row["loc_added_sum"]
                    week["suggested"] += row["loc_suggested_to_add_sum"]
    expected = [
        {
            "enterprise_id": loaded.enterprise.enterprise_id,
            "week_start": week,
            "completion_acceptance_rate": ratio(s["accepted"], s["generated"]),
            "line_acceptance_rate": ratio(s["added"], s["suggested"]),
        }
        for week, s in sorted(sums.items())
    ]
    got = loaded.query("acceptance_by_week")
    assert list(got[0]) == ["enterprise_id", "week_start", "completion_acceptance_rate", "line_acceptance_rate"]
    assert all(row["week_start"].weekday() == 0 for row in got)
    assert_rows(got, expected)


def test_lines_of_code_and_the_agents_share(loaded: Loaded) -> None:
    sums: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, lines in loaded.lines.items():
        week = sums[monday(day)]
        for line in lines:
            week["added"] += line["loc_added_sum"]
            week["deleted"] += line["loc_deleted_sum"]
            for row in line["totals_by_feature"]:
                if row["feature"] == "agent_edit":
                    week["agent_added"] += row["loc_added_sum"]
                    week["agent_deleted"] += row["loc_deleted_sum"]
    expected = [
        {
            "week_start": week,
            "loc_added": s["added"],
            "loc_deleted": s["deleted"],
            "agent_loc_added": s["agent_added"],
            "agent_loc_deleted": s["agent_deleted"],
            "agent_share_of_lines_added": ratio(s["agent_added"], s["added"]),
            "agent_share_of_lines_changed": ratio(s["agent_added"] + s["agent_deleted"], s["added"] + s["deleted"]),
        }
        for week, s in sorted(sums.items())
    ]
    assert_rows(loaded.query("lines_of_code_by_week"), expected)


@pytest.mark.parametrize(
    "view, breakdown, dimension",
    [
        ("ide_usage_by_week", "totals_by_ide", "ide"),
        ("language_usage_by_week", "totals_by_language_feature", "language"),
        ("model_usage_by_week", "totals_by_model_feature", "model"),
        ("feature_usage_by_week", "totals_by_feature", "feature"),
    ],
)
def test_usage_by_dimension_per_week(loaded: Loaded, view: str, breakdown: str, dimension: str) -> None:
    users: dict[tuple[date, str], set[int]] = defaultdict(set)
    sums: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, lines in loaded.lines.items():
        for line in lines:
            for row in line[breakdown]:
                key = (monday(day), row[dimension])
                users[key].add(line["user_id"])
                for counter in ("code_generation_activity_count", "code_acceptance_activity_count", "loc_added_sum"):
                    sums[key][counter] += row[counter]
                sums[key]["interactions"] += row.get("user_initiated_interaction_count", 0)
    has_interactions = breakdown != "totals_by_language_feature"
    expected = [
        {
            "week_start": week,
            dimension: value,
            "active_users": len(users[(week, value)]),
            "code_generation_activity_count": sums[(week, value)]["code_generation_activity_count"],
            "code_acceptance_activity_count": sums[(week, value)]["code_acceptance_activity_count"],
            "loc_added_sum": sums[(week, value)]["loc_added_sum"],
            "user_initiated_interaction_count": sums[(week, value)]["interactions"] if has_interactions else None,
        }
        for week, value in sorted(users)
    ]
    assert_rows(loaded.query(view, order="2, 3"), expected)


def people_of(seats: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Seated people: their login, seat count and newest activity over all their seats."""
    people: dict[int, dict[str, Any]] = {}
    for seat in seats:
        person = people.setdefault(
            seat["assignee"]["id"], {"login": seat["assignee"]["login"], "seats": 0, "last": None}
        )
        person["seats"] += 1
        last = parse_ts(seat["last_activity_at"])
        if last and (person["last"] is None or last > person["last"]):
            person["last"] = last
    return people


def test_seat_utilization_counts_each_seated_person_once(loaded: Loaded) -> None:
    people = people_of(loaded.seats_after)
    assert len(people) < len(loaded.seats_after)  # some people hold two seats
    assert {(TODAY - people[1010 + i]["last"].date()).days for i in range(6)} == {6, 7, 27, 28, 29, 30}
    since = {uid: (TODAY - p["last"].date()).days if p["last"] else None for uid, p in people.items()}
    active_7 = sum(1 for d in since.values() if d is not None and d <= 6)
    active_28 = sum(1 for d in since.values() if d is not None and d <= 27)
    idle = sum(1 for d in since.values() if d is None or d >= 30)
    expected = {
        "enterprise_id": loaded.enterprise.enterprise_id,
        "snapshot_day": TODAY,
        "seats": len(loaded.seats_after),
        "seated_users": len(people),
        "active_users_7d": active_7,
        "active_users_28d": active_28,
        "idle_users_30d": idle,
        "utilization_7d": active_7 / len(people),
        "utilization_28d": active_28 / len(people),
    }
    assert_rows(loaded.query("seat_utilization"), [expected])


def test_idle_seats_lists_people_without_activity_in_30_days_before_the_newest_snapshot(loaded: Loaded) -> None:
    people = people_of(loaded.seats_after)
    expected = []
    for uid, person in sorted(people.items()):
        days = (TODAY - person["last"].date()).days if person["last"] else None
        if days is None or days >= 30:
            expected.append(
                {
                    "enterprise_id": loaded.enterprise.enterprise_id,
                    "user_id": uid,
                    "user_login": person["login"],
                    "last_activity_at": person["last"],
                    "days_idle": days,
                }
            )
    assert any(row["days_idle"] is None for row in expected) and any(row["days_idle"] for row in expected)
    got = loaded.query("idle_seats", order="user_id")
    assert list(got[0]) == ["enterprise_id", "user_id", "user_login", "last_activity_at", "days_idle"]
    assert_rows(got, expected)


def test_seats_by_organization_and_team(loaded: Loaded) -> None:
    by_org: dict[int, list[dict[str, Any]]] = defaultdict(list)
    by_team: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for seat in loaded.seats_after:
        by_org[seat["organization"]["id"]].append(seat)
        if seat["assigning_team"]:
            by_team[(seat["organization"]["id"], seat["assigning_team"]["id"])].append(seat)
    expected_orgs = [
        {
            "organization_id": org,
            "organization_login": seats[0]["organization"]["login"],
            "seats": len(seats),
            "seated_users": len({s["assignee"]["id"] for s in seats}),
        }
        for org, seats in sorted(by_org.items())
    ]
    assert_rows(loaded.query("seats_by_organization"), expected_orgs)
    expected_teams = [
        {
            "organization_id": org,
            "team_id": team,
            "team_slug": seats[0]["assigning_team"]["slug"],
            "seats": len(seats),
            "seated_users": len({s["assignee"]["id"] for s in seats}),
        }
        for (org, team), seats in sorted(by_team.items())
    ]
    assert_rows(loaded.query("seats_by_team", order="2, 3"), expected_teams)


def test_seat_changes_come_from_the_seat_history(loaded: Loaded) -> None:
    before = {
        f"{s['assignee']['id']}:{s['organization']['id']}:{(s['assigning_team'] or {}).get('id', '')}": s
        for s in loaded.seats_before
    }
    after = {
        f"{s['assignee']['id']}:{s['organization']['id']}:{(s['assigning_team'] or {}).get('id', '')}": s
        for s in loaded.seats_after
    }
    changed = {k for k in after if k in before and after[k]["plan_type"] != before[k]["plan_type"]}
    assert set(before) - set(after) == {REMOVED_SEAT} and changed == {PLAN_CHANGED_SEAT}
    got = loaded.query("seat_changes", order="seat_key, changed_at, change")
    events = sorted((row["seat_key"], row["change"]) for row in got)
    expected = sorted([(k, "added") for k in before] + [(REMOVED_SEAT, "removed")] + [(k, "changed") for k in changed])
    assert events == expected
    plan = {row["seat_key"]: row["plan_type"] for row in got if row["change"] == "changed"}
    assert plan == {PLAN_CHANGED_SEAT: after[PLAN_CHANGED_SEAT]["plan_type"]}
    per_day = loaded.query("seat_changes_by_day")
    assert sum(r["seats_added"] for r in per_day) == len(before)
    assert sum(r["seats_removed"] for r in per_day) == 1 and sum(r["seats_changed"] for r in per_day) == 1


def team_rows(loaded: Loaded, scope_org: int | None) -> list[dict[str, Any]]:
    assert loaded.before is not None
    return team_lines(loaded.before, sorted(loaded.lines), scope_org)


def test_team_views_join_the_same_days_membership(loaded: Loaded) -> None:
    teams = team_rows(loaded, None)
    assert teams and {row["slug"] for row in teams} == {"copilot-champions", "all-engineers"}  # tiny team left out
    lines = {(day, line["user_id"]): line for day, ls in loaded.lines.items() for line in ls}
    members: dict[tuple[int, str, date], set[int]] = defaultdict(set)
    for row in teams:
        members[(row["team_id"], row["slug"], row["day"])].add(row["user_id"])
    expected_days = [
        {
            "team_id": team,
            "team_slug": slug,
            "day": day,
            "members": len(people),
            "active_users": sum(1 for u in people if (day, u) in lines),
        }
        for (team, slug, day), people in sorted(members.items())
    ]
    assert_rows(loaded.query("team_active_users_by_day", order="team_id, day"), expected_days)

    weekly: dict[tuple[int, date], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for (team, _slug, day), people in members.items():
        week = weekly[(team, monday(day))]
        week.setdefault("users", set())
        for user in people:
            line = lines.get((day, user))
            if line is None:
                continue
            week["users"].add(user)
            week["interactions"] += line["user_initiated_interaction_count"]
            week["loc_added"] += line["loc_added_sum"]
            for row in line["totals_by_feature"]:
                if row["feature"] == "code_completion":
                    week["accepted"] += row["code_acceptance_activity_count"]
                    week["generated"] += row["code_generation_activity_count"]
    expected_weeks = [
        {
            "team_id": team,
            "week_start": week,
            "active_users": len(w["users"]),
            "user_initiated_interaction_count": w["interactions"],
            "loc_added_sum": w["loc_added"],
            "completion_acceptance_rate": ratio(w["accepted"], w["generated"]),
        }
        for (team, week), w in sorted(weekly.items())
    ]
    assert_rows(loaded.query("team_usage_by_week", order="team_id, week_start"), expected_weeks)


def test_ai_credits_per_person_and_team_and_billed_per_model(loaded: Loaded) -> None:
    used: dict[tuple[date, int], float] = defaultdict(float)
    newest_login: dict[int, tuple[date, str]] = {}
    for day, lines in loaded.lines.items():
        for line in lines:
            if newest_login.get(line["user_id"], (date.min, ""))[0] < day:
                newest_login[line["user_id"]] = (day, line["user_login"])
            if "ai_credits_used" in line:
                used[(month(day), line["user_id"])] += line["ai_credits_used"]
    assert newest_login[RENAMED][1] == "renamed-dev"
    expected_users = [
        {
            "month_start": start,
            "user_id": user,
            "user_login": newest_login[user][1],
            "ai_credits_used": credits,
            "ai_credits_usd": credits * 0.01,
        }
        for (start, user), credits in sorted(used.items())
    ]
    assert_rows(loaded.query("ai_credits_by_user", order="month_start, user_id"), expected_users)

    lines_by = {(day, line["user_id"]): line for day, ls in loaded.lines.items() for line in ls}
    per_team: dict[tuple[int, date], dict[str, Any]] = defaultdict(lambda: {"users": set(), "credits": 0.0})
    for row in team_rows(loaded, None):
        line = lines_by.get((row["day"], row["user_id"]))
        if line and "ai_credits_used" in line:
            team = per_team[(row["team_id"], month(row["day"]))]
            team["users"].add(row["user_id"])
            team["credits"] += line["ai_credits_used"]
    expected_teams = [
        {
            "team_id": team,
            "month_start": start,
            "users": len(t["users"]),
            "ai_credits_used": t["credits"],
            "ai_credits_usd": t["credits"] * 0.01,
        }
        for (team, start), t in sorted(per_team.items())
    ]
    assert_rows(loaded.query("ai_credits_by_team", order="team_id, month_start"), expected_teams)

    billed: dict[tuple[date, str], dict[str, Any]] = defaultdict(lambda: {"users": set(), "q": 0.0, "g": 0.0, "n": 0.0})
    for day in loaded.lines:
        for line in credit_lines(loaded.enterprise, day):
            model = billed[(month(day), line["model"])]
            model["users"].add(line["username"])
            model["q"] += line["quantity"]
            model["g"] += line["gross_amount"]
            model["n"] += line["net_amount"]
    expected_models = [
        {
            "month_start": start,
            "model": model,
            "users": len(m["users"]),
            "ai_credits": m["q"],
            "gross_usd": m["g"],
            "net_usd": m["n"],
        }
        for (start, model), m in sorted(billed.items())
    ]
    assert expected_models
    assert_rows(loaded.query("ai_credits_billed_by_model"), expected_models)
    by_user = loaded.query("ai_credits_billed_by_user")
    assert close(sum(r["net_usd"] for r in by_user), sum(m["net_usd"] for m in expected_models))


def test_organization_views_count_people_in_every_organization(loaded: Loaded) -> None:
    days = sorted(loaded.lines)
    active: dict[tuple[str, date], set[int]] = defaultdict(set)
    for index in range(loaded.enterprise.org_count):
        for day in days:
            for text in org_user_lines(loaded.before, index, day):
                active[(org_id(index), day)].add(json.loads(text)["user_id"])
    expected = []
    for org in sorted({org for org, _ in active}):
        for day in days:
            window = [d for d in days if day - timedelta(days=6) <= d <= day]
            full = day - timedelta(days=6) >= days[0]
            expected.append(
                {
                    "organization_id": org,
                    "day": day,
                    "active_users": len(active[(org, day)]),
                    "active_users_7d": len(set().union(*(active[(org, d)] for d in window))) if full else None,
                }
            )
    got = loaded.query("org_active_users_by_day")
    assert list(got[0])[:2] == ["organization_id", "day"]
    assert_rows(got, expected)
    # a person in two organizations counts in both: organization sums exceed the enterprise's
    enterprise = {row["day"]: row["active_users"] for row in loaded.query("active_users_by_day")}
    assert sum(r["active_users"] for r in got if r["day"] == days[-1]) > enterprise[days[-1]]
    # organization seats: one row per idle person and organization
    people: dict[tuple[str, int], datetime | None] = {}
    for seat in loaded.seats_after:
        key = (str(seat["organization"]["id"]), seat["assignee"]["id"])
        last = parse_ts(seat["last_activity_at"])
        people[key] = max(filter(None, (people.get(key), last)), default=None)
    idle = sorted(k for k, last in people.items() if last is None or (TODAY - last.date()).days >= 30)
    assert [(r["organization_id"], r["user_id"]) for r in loaded.query("org_idle_seats", order="1, 2")] == idle
    assert {"org_team_usage_by_week", "org_seats_by_team", "org_seat_changes"} <= set(loaded.views)


def test_views_are_made_only_for_tables_that_exist(loaded: Loaded) -> None:
    assert {"active_users_by_day", "acceptance_by_week", "idle_seats", "ai_credits_billed_by_user"} <= set(loaded.views)
    # without the organization tables there are no organization views
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    columns = {"enterprise_id", "day", "user_id", "feature", "ide", "language", "model", "list_index"}
    enterprise_only = {name: columns for name in wanted_tables() if not name.startswith("org")}
    planned = plan_views(Catalog(("copilot_data",), enterprise_only, NamingConvention()))
    assert planned and not [v.name for v in planned if v.name.startswith("org_")]
    # creating the views again replaces them (idempotent), with the same names
    assert create_views(loaded.pipeline) == loaded.views


def test_every_view_translates_to_every_sql_destination_dialect() -> None:
    """The SQL is written once (DuckDB) and transpiled: no construct lacks a translation."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    every = {
        name: {"enterprise_id", "organization_id", "day", "user_id", "feature", "ide", "language", "model"}
        for name in wanted_tables()
    }
    columns = {
        "seats": {
            "seat_key",
            "_dlt_valid_from",
            "_dlt_valid_to",
            "assignee__id",
            "assignee__login",
            "organization__id",
            "organization__login",
            "assigning_team__id",
            "assigning_team__slug",
            "plan_type",
        },
        "seat_activity": {"snapshot_day", "last_activity_at", "assignee_id", "assignee_login", "organization_id"},
        "org_seats": {
            "seat_key",
            "_dlt_valid_from",
            "_dlt_valid_to",
            "assignee__id",
            "organization__id",
            "assigning_team__id",
        },
        "org_seat_activity": {"snapshot_day", "last_activity_at", "user_id", "organization_id"},
    }
    counters = {
        "code_generation_activity_count",
        "code_acceptance_activity_count",
        "loc_suggested_to_add_sum",
        "loc_added_sum",
        "loc_deleted_sum",
        "user_initiated_interaction_count",
        "ai_credits_used",
        "used_agent",
        "team_id",
        "slug",
        "username",
        "quantity",
        "gross_amount",
        "net_amount",
    }
    tables = {name: every[name] | counters | columns.get(name, set()) for name in every}
    dialects = [
        "postgres",
        "bigquery",
        "snowflake",
        "databricks",
        "tsql",
        "fabric",
        "redshift",
        "athena",
        "clickhouse",
        "duckdb",
    ]
    for dialect in dialects:
        catalog = Catalog(("copilot_data",), tables, NamingConvention(), dialect=dialect)
        views = plan_views(catalog)
        assert len(views) == 39  # 21 enterprise views (2 of them billing), 18 organization views
        for view in views:
            sql = catalog.transpile(f"CREATE VIEW {catalog.table(view.name)} AS {view.sql}")
            assert sqlglot.parse_one(sql, read=dialect) is not None, (dialect, view.name)


def test_an_unreachable_destination_is_one_line_with_a_code(tmp_path: Path) -> None:
    from copilot_source.errors import AnalyticsFailed
    from tests.postgres import free_port

    secret = "hunter2-do-not-print"
    destination = dlt.destinations.postgres(f"postgresql://copilot:{secret}@127.0.0.1:{free_port()}/copilot")
    pipeline = dlt.pipeline("views_unreachable", destination=destination, dataset_name="copilot_data")
    with pytest.raises(AnalyticsFailed) as failed:
        create_views(pipeline)
    message = failed.value.message
    assert message.startswith("[analytics_failed] Could not read the destination of pipeline 'views_unreachable'")
    assert "Fix: Check that the destination is reachable" in message
    assert "\n" not in message and secret not in message


def test_seat_holders_count_each_person_once_in_a_join_with_usage(loaded: Loaded) -> None:
    seats = loaded.seats_after
    people: dict[int, set[str]] = {}
    for seat in seats:
        people.setdefault(seat["assignee"]["id"], set()).add(seat["organization"]["login"])
    got = loaded.query("seat_holders", order="user_id")
    assert [(r["user_id"], r["organizations"], r["seats"]) for r in got] == [
        (user, ", ".join(sorted(orgs)), sum(1 for s in seats if s["assignee"]["id"] == user))
        for user, orgs in sorted(people.items())
    ]
    assert max(r["seats"] for r in got) == 2  # some hold two seats
    # AI credits of seated people: once per person through seat_holders, more through raw seats
    credits = sum(
        line.get("ai_credits_used") or 0
        for lines in loaded.lines.values()
        for line in lines
        if line["user_id"] in people
    )
    with loaded.pipeline.sql_client() as client:
        users, holders = (
            client.make_qualified_table_name("users_1_day"),
            client.make_qualified_table_name("seat_holders"),
        )
        seat_rows = client.make_qualified_table_name("seats")
        once = client.execute_sql(
            f"SELECT SUM(u.ai_credits_used) FROM {users} u JOIN {holders} h ON h.user_id = u.user_id"
        )
        naive = client.execute_sql(
            f"SELECT SUM(u.ai_credits_used) FROM {users} u JOIN {seat_rows} s"
            " ON s.user_id = u.user_id AND s._dlt_valid_to IS NULL"
        )
    assert once[0][0] == pytest.approx(credits)
    assert naive[0][0] > once[0][0]
