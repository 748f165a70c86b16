"""Teams, repositories and AI credits: exact tables against the fake's own lines and bodies, a late
day re-read, a hole retried, and the usage export's lifecycle (busy, then ready; an expired link).

Expected values come from the fake's NDJSON lines, JSON bodies and CSV text, parsed here.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from copilot_source import Unreachable, find_source_error
from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.demo.fake_github import billing as fake_billing
from tests.conftest import NEWEST, make_pipeline, rows, run, scalar

ORG = "octo-org-1"


def served(fake: FakeGitHub, key: str) -> list[dict[str, Any]]:
    return [json.loads(line) for day in fake.enterprise.report_days() for line in fake.report_lines(key, day)]


def test_user_teams_at_both_scopes_are_exact_and_leave_small_teams_out(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, ("user_teams_1_day", "users_1_day", "org_user_teams_1_day"), organizations=[ORG])

    for table, key, entity in (
        ("user_teams_1_day", "user-teams-1-day", "enterprise_id"),
        ("org_user_teams_1_day", f"orgs/{ORG}/user-teams-1-day", "organization_id"),
    ):
        lines = served(fake, key)
        expected = sorted((x["day"], x[entity], x["user_id"], x["team_id"], x["slug"]) for x in lines)
        got = rows(
            pipeline, f"SELECT strftime(day, '%Y-%m-%d'), {entity}, user_id, team_id, slug FROM {table} ORDER BY ALL"
        )
        assert got == expected
        # teams under five seated users are not in GitHub's report, so not in the table
        assert not [row for row in got if row[4].startswith("tiny")]
    # a person on two teams the same day
    per_person = rows(pipeline, "SELECT day, user_id, count(*) FROM user_teams_1_day GROUP BY ALL HAVING count(*) > 1")
    assert per_person
    # team metrics: the same day's users joined to the team snapshot, people counted once per team
    users = served(fake, "users-1-day")
    active = {(x["day"], x["user_id"]) for x in users}
    teams: dict[int, set[tuple[str, int]]] = {}
    for line in served(fake, "user-teams-1-day"):
        if (line["day"], line["user_id"]) in active:
            teams.setdefault(line["team_id"], set()).add((line["day"], line["user_id"]))
    got_teams = rows(
        pipeline,
        "SELECT t.team_id, count(DISTINCT (u.day, u.user_id)) FROM users_1_day u JOIN user_teams_1_day t"
        " ON t.day = u.day AND t.enterprise_id = u.enterprise_id AND t.user_id = u.user_id GROUP BY 1",
    )
    assert dict(got_teams) == {team: len(people) for team, people in teams.items()}


def load_with_a_day_missing(tmp_path: Path, fake: FakeGitHub, table: str) -> tuple[Any, date]:
    """A first run of `table` (lookback 2 days) while GitHub has no report for a day in the middle."""
    hole = NEWEST - timedelta(days=5)
    fake.enterprise.unavailable_days = {hole}
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, (table,), lookback_days=2)
    return pipeline, hole


def test_repositories_load_exactly_a_corrected_day_is_replaced_and_a_quiet_day_is_no_hole(
    tmp_path: Path, fake: FakeGitHub
) -> None:
    ent = fake.enterprise
    pipeline, hole = load_with_a_day_missing(tmp_path, fake, "repos_1_day")

    def loaded() -> list[tuple[Any, ...]]:
        return rows(
            pipeline,
            "SELECT strftime(day, '%Y-%m-%d'), enterprise_id, repo_id, repo_name, pull_requests__total_created"
            " FROM repos_1_day ORDER BY ALL",
        )

    def expected() -> list[tuple[Any, ...]]:
        return sorted(
            (x["day"], x["enterprise_id"], x["repo_id"], x["repo_name"], x["pull_requests"]["total_created"])
            for x in served(fake, "repos-1-day")
        )

    assert loaded() == expected()
    # GitHub lists a repository only on days with pull requests: some are absent on some days
    days_per_repo = dict(rows(pipeline, "SELECT repo_id, count(*) FROM repos_1_day GROUP BY 1"))
    assert min(days_per_repo.values()) < len(ent.report_days())
    assert scalar(pipeline, "SELECT count(*) FROM repos_1_day__pull_requests__copilot_suggestions_by_comment_type") == (
        2 * len(expected())
    )
    # GitHub answers 204 for a day without pull requests: not a hole to ask for on every run
    assert hole.isoformat() not in json.dumps(pipeline.state["sources"]["copilot"]["resources"]["repos_1_day"])
    assert hole.isoformat() not in {r[0] for r in loaded()}

    # GitHub corrects a day inside the lookback window; the quiet day outside it is not asked again
    corrected = NEWEST - timedelta(days=1)
    ent.revisions[corrected] = 7
    ent.unavailable_days = set()
    before = {r[2]: r[4] for r in loaded() if r[0] == corrected.isoformat()}
    run(pipeline, fake, ("repos_1_day",), lookback_days=2)

    now = loaded()
    assert [r for r in now if r[0] != hole.isoformat()] == [r for r in expected() if r[0] != hole.isoformat()]
    assert hole.isoformat() not in {r[0] for r in now}
    assert {r[2]: r[4] for r in now if r[0] == corrected.isoformat()} != before


def test_a_team_report_missing_between_published_days_is_a_hole_asked_for_again(
    tmp_path: Path, fake: FakeGitHub
) -> None:
    ent = fake.enterprise
    pipeline, hole = load_with_a_day_missing(tmp_path, fake, "user_teams_1_day")

    def days() -> set[str]:
        return {r[0] for r in rows(pipeline, "SELECT DISTINCT strftime(day, '%Y-%m-%d') FROM user_teams_1_day")}

    assert hole.isoformat() not in days()
    assert hole.isoformat() in json.dumps(pipeline.state["sources"]["copilot"]["resources"]["user_teams_1_day"])

    ent.unavailable_days = set()
    run(pipeline, fake, ("user_teams_1_day",), lookback_days=2)

    expected = sorted((x["day"], x["user_id"], x["team_id"]) for x in served(fake, "user-teams-1-day"))
    got = rows(pipeline, "SELECT strftime(day, '%Y-%m-%d'), user_id, team_id FROM user_teams_1_day ORDER BY ALL")
    assert got == expected
    assert hole.isoformat() in days()
    assert hole.isoformat() not in json.dumps(pipeline.state["sources"]["copilot"]["resources"]["user_teams_1_day"])


def credit_lines(fake: FakeGitHub) -> list[dict[str, Any]]:
    ent = fake.enterprise
    return [
        line for day in fake_billing.days(ent.first_report_day, NEWEST) for line in fake_billing.credit_lines(ent, day)
    ]


@pytest.fixture
def credits(fake: FakeGitHub) -> FakeGitHub:
    """The fake's enterprise with AI credits on its days (credits began on 2026-06-01)."""
    assert fake.enterprise.first_report_day >= fake_billing.CREDITS_FROM
    return fake


def test_ai_credit_usage_items_equal_the_billing_api_per_day_and_model(tmp_path: Path, credits: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, credits, ("ai_credit_usage", "org_ai_credit_usage"), organizations=[ORG])

    ent = credits.enterprise
    for table, organization in (("ai_credit_usage", None), ("org_ai_credit_usage", ORG)):
        expected = sorted(
            (day.isoformat(), item["model"], item["grossQuantity"], item["netAmount"])
            for day in ent.report_days()
            for item in fake_billing.usage_body(ent, day, organization)["usageItems"]
        )
        got = rows(
            pipeline, f"SELECT strftime(day, '%Y-%m-%d'), model, gross_quantity, net_amount FROM {table} ORDER BY ALL"
        )
        assert got == expected
    # gross - discount = net, to the cent's fraction GitHub sends
    assert scalar(pipeline, "SELECT max(abs(gross_amount - discount_amount - net_amount)) FROM ai_credit_usage") < 1e-9


def test_per_person_credits_come_from_the_export_busy_then_ready_with_an_expired_link(
    tmp_path: Path, credits: FakeGitHub
) -> None:
    credits.export_busy = 2  # another export is running: two 409s first
    credits.export_polls = 3  # processing for three polls
    credits.export_downloads_expired = 1  # the first download link has expired
    pipeline = make_pipeline(tmp_path)
    run(pipeline, credits, ("ai_credit_usage_by_user",), billing_poll_interval=0.01)

    lines = credit_lines(credits)
    got = rows(
        pipeline,
        "SELECT strftime(day, '%Y-%m-%d'), username, model, quantity, gross_amount FROM ai_credit_usage_by_user"
        " ORDER BY ALL",
    )
    assert got == sorted((x["date"], x["username"], x["model"], x["quantity"], x["gross_amount"]) for x in lines)
    # the per-person total equals the fake's total (credits are not whole numbers)
    total = scalar(pipeline, "SELECT sum(quantity) FROM ai_credit_usage_by_user")
    assert total == pytest.approx(sum(x["quantity"] for x in lines), abs=1e-9)
    assert any(x["quantity"] != int(x["quantity"]) for x in lines)
    asked = [(s.method, s.status) for s in credits.calls("api", "/settings/billing/reports")]
    assert asked[:3] == [("POST", 409), ("POST", 409), ("POST", 202)]
    assert [s.status for s in credits.calls("files", "/exports/")] == [403, 200]
    # the CSV the fake served, read here with the csv module, holds the same rows
    csv_text = fake_billing.export_csv(credits.enterprise, credits.enterprise.first_report_day, NEWEST)
    parsed = list(csv.DictReader(io.StringIO(csv_text.decode("utf-8-sig"))))
    assert len(parsed) == len(got)


def test_an_export_that_stays_busy_past_the_timeout_fails_clearly_and_loads_nothing(
    tmp_path: Path, credits: FakeGitHub
) -> None:
    credits.export_busy = 1000  # another export never finishes
    pipeline = make_pipeline(tmp_path)
    with pytest.raises(Exception) as failure:
        run(pipeline, credits, ("ai_credit_usage_by_user",), billing_poll_interval=0.05, billing_export_timeout=1)

    error = find_source_error(failure.value)
    assert isinstance(error, Unreachable), failure.value
    assert "`billing_export_timeout`" in error.message
    posts = [s.status for s in credits.calls("api", "/settings/billing/reports")]
    # asked with a growing pause (0.05, 0.1, 0.2, 0.4 s ...) until a second was spent, never hammered
    assert set(posts) == {409} and 3 <= len(posts) <= 6
    assert pipeline.last_trace.last_load_info is None  # nothing was loaded


def test_billing_tables_are_loaded_only_when_asked_for(tmp_path: Path, credits: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, credits, ("seats",))
    run(pipeline, credits)  # everything that is selected by default
    tables = {t["name"] for t in pipeline.default_schema.data_tables()}
    assert "users_1_day" in tables and not tables & {"ai_credit_usage", "ai_credit_usage_by_user"}
    assert credits.calls("api", "/settings/billing") == []

    run(pipeline, credits, billing=True, billing_poll_interval=0.01)
    tables = {t["name"] for t in pipeline.default_schema.data_tables()}
    assert {"ai_credit_usage", "ai_credit_usage_by_user"} <= tables


def test_no_credit_day_is_asked_for_before_credits_began(tmp_path: Path, fake: FakeGitHub) -> None:
    fake.enterprise.first_report_day = date(2026, 5, 25)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, ("ai_credit_usage",), start_date=date(2026, 5, 25))
    asked = sorted(
        date(int(s.query["year"]), int(s.query["month"]), int(s.query["day"]))
        for s in fake.calls("api", "/ai_credit/usage")
    )
    assert asked[0] == fake_billing.CREDITS_FROM
