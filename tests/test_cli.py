"""`pipelines/load.py` as a user runs it: a subprocess in a fresh working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from copilot_source.demo import demo_enterprise
from copilot_source.demo.fake_github import FakeGitHub
from tests.conftest import TODAY

LOAD = Path(__file__).resolve().parent.parent / "pipelines" / "load.py"


def load(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    # the test's folder is the project: its .dlt/ (none) is read, its DuckDB files written there
    environment["DLT_PROJECT_DIR"] = str(cwd)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(LOAD), "--progress", "none", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_loads_the_built_in_enterprise(isolated_dlt: Path) -> None:
    result = load(isolated_dlt, "--demo")
    assert result.returncode == 0, result.stderr
    enterprise = demo_enterprise(TODAY)
    days = enterprise.report_days()
    lines = sum(len(enterprise.users_report_lines(day)) for day in days)
    with duckdb.connect(str(isolated_dlt / "github_copilot_demo.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM copilot_data.users_1_day").fetchone() == (lines,)
        assert db.execute("SELECT count(*) FROM copilot_data.enterprise_metrics").fetchone() == (len(days),)
        seats = len(enterprise.seats(days[-1]))
        assert db.execute("SELECT count(*) FROM copilot_data.seats").fetchone() == (seats,)
        # the analytics views come with the load: the newest day's active people, counted from the lines
        newest_users = {json.loads(line)["user_id"] for line in enterprise.users_report_lines(days[-1])}
        assert db.execute(
            "SELECT active_users FROM copilot_data.active_users_by_day WHERE day = ?", [days[-1]]
        ).fetchone() == (len(newest_users),)
        # the demo shows AI credits too
        assert db.execute("SELECT count(*) > 0 FROM copilot_data.ai_credit_usage_by_user").fetchone() == (True,)
    assert "Analytics views:" in result.stdout
    summary = {parts[0]: parts[1] for parts in (line.split() for line in result.stdout.splitlines()) if len(parts) == 2}
    assert summary["users_1_day"] == str(lines)
    assert f"days loaded {days[0]}..{days[-1]}" in result.stdout


def test_no_views_loads_the_tables_and_creates_no_view(isolated_dlt: Path) -> None:
    result = load(isolated_dlt, "--demo", "--resources", "seats", "--no-views")
    assert result.returncode == 0, result.stderr
    with duckdb.connect(str(isolated_dlt / "github_copilot_demo.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone() == (0,)
        seats = len(demo_enterprise(TODAY).seats(demo_enterprise(TODAY).report_days()[-1]))
        assert db.execute("SELECT count(*) FROM copilot_data.seats").fetchone() == (seats,)
    assert "Analytics views" not in result.stdout


def test_a_configured_enterprise_without_token_fails_and_loads_nothing(isolated_dlt: Path) -> None:
    result = load(isolated_dlt, env={"SOURCES__COPILOT__ENTERPRISE": "octo-corp"})
    assert result.returncode == 2
    assert "SOURCES__COPILOT__ACCESS_TOKEN" in result.stderr
    assert "--demo" in result.stderr
    assert not list(isolated_dlt.glob("*.duckdb"))


def test_an_unknown_resource_name_is_refused_before_any_request(isolated_dlt: Path) -> None:
    result = load(isolated_dlt, "--demo", "--resources", "users_1_day,sets")
    assert result.returncode == 1
    assert "[invalid_config] Unknown resource name(s): sets." in result.stderr
    assert "seat_activity" in result.stderr
    assert not list(isolated_dlt.glob("*.duckdb"))


def test_without_a_destination_it_says_how_to_set_one_before_any_request(isolated_dlt: Path, fake: FakeGitHub) -> None:
    result = load(
        isolated_dlt,
        env={
            "SOURCES__COPILOT__ENTERPRISE": fake.enterprise.slug,
            "SOURCES__COPILOT__ACCESS_TOKEN": fake.token,
            "SOURCES__COPILOT__BASE_URL": fake.api_url,
        },
    )
    assert result.returncode == 1
    assert "[invalid_config] No destination is configured for pipeline 'github_copilot'" in result.stderr
    assert "PIPELINES__GITHUB_COPILOT__DESTINATION_TYPE" in result.stderr
    assert fake.calls("api") == [] and fake.calls("files") == []


def test_a_backfill_of_days_without_reports_says_so_and_succeeds(isolated_dlt: Path) -> None:
    from datetime import timedelta

    from tests.conftest import TOKEN, small_enterprise
    from tests.scripts import fake_env
    from tests.scripts import load as load_configured

    enterprise = small_enterprise()
    first = enterprise.first_report_day - timedelta(days=20)
    last = enterprise.first_report_day - timedelta(days=11)
    with FakeGitHub(enterprise, token=TOKEN, today=TODAY) as fake:
        result = load_configured(
            isolated_dlt,
            fake_env(fake),
            "--resources",
            "enterprise_metrics,users_1_day",
            "--start-date",
            str(first),
            "--end-date",
            str(last),
        )
        asked = {s.query["day"] for s in fake.calls("api", "/reports/users-1-day")}
    assert result.returncode == 0, result.stderr
    assert f"GitHub had no report for any day from {first} to {last}: no report day was loaded." in result.stdout
    assert "users_1_day: days loaded none" in result.stdout
    assert len(asked) == 10
