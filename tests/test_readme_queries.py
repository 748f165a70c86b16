"""The example queries in the README run on loaded data, and answer what the fake enterprise served.

The statements are read from README.md's ```sql blocks. Every expected answer is computed here from
what the fake GitHub served (its seat JSON, NDJSON report lines and usage export CSV, parsed with
`json` and `csv`), never through the views or the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from copilot_source.analytics import create_views
from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.demo.fake_github import billing as fake_billing
from tests.conftest import NEWEST, TODAY, make_pipeline, run, small_enterprise

README = Path(__file__).resolve().parent.parent / "README.md"
# a seated person is idle when their last activity's UTC day is this many days or more before the
# snapshot's day (docs/analytics.md, `idle_seats`)
IDLE_DAYS = 30
WINDOW_DAYS = 28
# seat activity on both sides of the idle boundary, whatever the reports say: 1011 and 1016 hold two
# seats each (the fake gives every fifth person a second seat through another organization's team)
LAST_ACTIVITY = {1011: TODAY - timedelta(days=30), 1016: TODAY - timedelta(days=29), 1012: TODAY - timedelta(days=29)}


def readme_queries() -> list[str]:
    """Every statement of the README's ```sql blocks, comment-only pieces left out."""
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)
    statements = [s.strip() for block in blocks for s in block.split(";")]
    return [s for s in statements if s and not all(line.lstrip().startswith("--") for line in s.splitlines())]


def served(fake: FakeGitHub, report: str) -> list[dict[str, Any]]:
    """A report's lines over every day the fake publishes, parsed here."""
    return [json.loads(line) for day in fake.enterprise.report_days() for line in fake.report_lines(report, day)]


def parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def as_date(value: date | datetime) -> date:
    """DuckDB's date_trunc of a DATE is a DATE or a TIMESTAMP depending on the version."""
    return value.date() if isinstance(value, datetime) else value


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def test_the_readme_queries_answer_correctly(tmp_path: Path) -> None:
    enterprise = small_enterprise(
        org_count=4,  # three repositories per organization: more than the top 10
        first_report_day=NEWEST - timedelta(days=44),
        idle_after=NEWEST - timedelta(days=35),
        last_activity=dict(LAST_ACTIVITY),
        new_fields_from={"ai_credits_used": NEWEST - timedelta(days=44)},
    )
    assert enterprise.first_report_day >= fake_billing.CREDITS_FROM  # AI credits on every day
    with FakeGitHub(enterprise, today=TODAY) as fake:
        pipeline = make_pipeline(tmp_path, "readme")
        run(pipeline, fake, billing=True, billing_poll_interval=0.01)
        seats = json.loads(json.dumps(enterprise.seats(TODAY)))
        users = served(fake, "users-1-day")
        teams = served(fake, "user-teams-1-day")
        repos = served(fake, "repos-1-day")
        export = fake_billing.export_csv(enterprise, enterprise.first_report_day, NEWEST)
    create_views(pipeline)

    queries = readme_queries()
    assert len(queries) == 5
    idle_sql, holders_sql, teams_sql, repos_sql, credits_sql = queries
    with duckdb.connect(str(tmp_path / "readme.duckdb"), read_only=True) as db:
        idle_rows = db.execute(idle_sql).fetchall()
        holder_rows = db.execute(holders_sql).fetchall()
        team_rows = db.execute(teams_sql).fetchall()
        repo_rows = db.execute(repos_sql).fetchall()
        credit_rows = db.execute(credits_sql).fetchall()

    # ---- the seated people of the snapshot (run day TODAY), one entry per person ----
    people: dict[int, dict[str, Any]] = {}
    for seat in seats:
        person = people.setdefault(
            seat["assignee"]["id"], {"login": seat["assignee"]["login"], "last": None, "seats": 0, "orgs": set()}
        )
        person["seats"] += 1
        person["orgs"].add(seat["organization"]["login"])
        moment = parse_ts(seat["last_activity_at"])
        if moment is not None and (person["last"] is None or moment > person["last"]):
            person["last"] = moment
    assert len(people) < len(seats)  # some people hold two seats

    # 1. idle seats: no activity, or its UTC day 30 or more days before the snapshot day
    idle = []
    for person in people.values():
        days_idle = None if person["last"] is None else (TODAY - person["last"].date()).days
        if days_idle is None or days_idle >= IDLE_DAYS:
            idle.append((person["login"], person["last"], days_idle, person["seats"]))
    idle.sort(key=lambda r: (r[2] is not None, -(r[2] or 0), r[0]))
    assert [(r[0], r[1], r[2]) for r in idle_rows] == [r[:3] for r in idle]
    logins = [r[0] for r in idle_rows]
    assert len(logins) == len(set(logins))  # a person with two seats is listed once
    assert any(r[2] is None for r in idle) and any(r[2] is not None for r in idle)
    assert any(r[3] == 2 for r in idle)  # ... and one of the idle people holds two seats
    # the boundary: 30 days before the snapshot is idle, 29 is not
    assert ("dev-01011", IDLE_DAYS) in {(r[0], r[2]) for r in idle_rows}
    assert not {"dev-01012", "dev-01016"} & set(logins)

    # 2. each seated person once, with usage over the newest 28 report days
    newest_day = max(date.fromisoformat(x["day"]) for x in users)
    usage: dict[int, list[Any]] = defaultdict(lambda: [0, 0, 0])
    for line in users:
        if date.fromisoformat(line["day"]) > newest_day - timedelta(days=WINDOW_DAYS):
            usage[line["user_id"]][0] += 1
            usage[line["user_id"]][1] += line["code_generation_activity_count"]
            usage[line["user_id"]][2] += line["ai_credits_used"]
    expected_holders = sorted(
        ((p["login"], ", ".join(sorted(p["orgs"])), *usage[uid]) for uid, p in people.items()),
        key=lambda r: (-r[3], r[0]),
    )
    assert len(holder_rows) == len(people) < len(seats)
    assert [tuple(r[:4]) for r in holder_rows] == [r[:4] for r in expected_holders]
    # AI credits counted once per person, however many seats they hold
    assert [r[4] for r in holder_rows] == pytest.approx([r[4] for r in expected_holders])
    assert sum(r[4] for r in holder_rows) > 0
    # the window leaves days out, and some seated people never used Copilot in it
    assert len(enterprise.report_days()) > WINDOW_DAYS
    assert any(r[2] == 0 for r in expected_holders) and any(r[2] > 0 for r in expected_holders)

    # 3. team adoption per week: the day's team members who were active that day, once per week
    active = {(x["day"], x["user_id"]) for x in users}
    weekly: dict[tuple[str, date], set[int]] = defaultdict(set)
    for line in teams:
        if (line["day"], line["user_id"]) in active:
            weekly[(line["slug"], monday(date.fromisoformat(line["day"])))].add(line["user_id"])
    expected_teams = sorted(
        ((slug, week, len(who)) for (slug, week), who in weekly.items()), key=lambda r: (r[1], r[0])
    )
    assert [(r[0], as_date(r[1]), r[2]) for r in team_rows] == expected_teams
    assert len({r[0] for r in expected_teams}) >= 2 and len({r[1] for r in expected_teams}) >= 5

    # 4. top 10 repositories by pull requests Copilot created in the newest 28 report days
    newest_repo_day = max(date.fromisoformat(x["day"]) for x in repos)
    prs: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for line in repos:
        if date.fromisoformat(line["day"]) > newest_repo_day - timedelta(days=WINDOW_DAYS):
            name = f"{line['repo_owner_name']}/{line['repo_name']}"
            prs[name][0] += line["pull_requests"]["total_created_by_copilot"]
            prs[name][1] += line["pull_requests"]["total_created"]
    assert len(prs) > 10
    expected_repos = sorted(((name, c, a) for name, (c, a) in prs.items()), key=lambda r: (-r[1], r[0]))[:10]
    assert [tuple(r) for r in repo_rows] == expected_repos

    # 5. AI credits and dollars per person and month, from the usage export's CSV
    lines = list(csv.DictReader(io.StringIO(export.decode("utf-8-sig"))))
    assert lines
    monthly: dict[tuple[str, date], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for row in lines:
        key = (row["username"], date.fromisoformat(row["date"]).replace(day=1))
        monthly[key][0] += float(row["quantity"])
        monthly[key][1] += float(row["net_amount"])
    got_credits = {(r[0], as_date(r[1])): (r[2], r[3]) for r in credit_rows}
    assert len(got_credits) == len(credit_rows)
    assert set(got_credits) == set(monthly)
    for key, (credits, dollars) in monthly.items():
        assert got_credits[key] == (pytest.approx(credits, abs=1e-9), pytest.approx(dollars, abs=1e-9)), key
    assert len({month for _, month in monthly}) >= 2
    # ordered by month, then dollars, most first
    order = [(as_date(r[1]), -r[3]) for r in credit_rows]
    assert order == sorted(order)
    fake_total = sum(
        x["net_amount"]
        for d in fake_billing.days(enterprise.first_report_day, NEWEST)
        for x in fake_billing.credit_lines(enterprise, d)
    )
    assert sum(r[3] for r in credit_rows) == pytest.approx(fake_total, abs=1e-9)
