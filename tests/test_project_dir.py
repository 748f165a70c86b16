"""A cron line without `cd`: the scripts read the project's `.dlt/` and write into the project folder.

The project here is a copy of the repository's layout (`pipelines/` and the shipped `.dlt/config.toml`),
started from another folder with stdin from /dev/null, no TTY and no DLT_PROJECT_DIR, as cron does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dlt.common.runtime.run_context import RunContext, switched_run_context

from copilot_source.demo import DEMO_PIPELINE
from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.ops.configured import configured_settings
from tests.conftest import TODAY, TOKEN, report_lines
from tests.failure_modes import tiny_enterprise
from tests.scripts import CHECK, LOAD, PIPELINES

REPORT = PIPELINES / "report.py"

ROOT = Path(__file__).resolve().parent.parent


def checkout(root: Path, config: str = "", secrets: str | None = None) -> Path:
    """The repository's scripts and shipped settings, plus `config` under [sources.copilot]."""
    project = root / "checkout"
    (project / "pipelines").mkdir(parents=True)
    for script in (LOAD, CHECK, REPORT):
        shutil.copy(script, project / "pipelines" / script.name)
    (project / ".dlt").mkdir()
    shipped = (ROOT / ".dlt" / "config.toml").read_text()
    assert "[sources.copilot]\n" in shipped
    (project / ".dlt" / "config.toml").write_text(
        shipped.replace("[sources.copilot]\n", f"[sources.copilot]\n{config}")
    )
    if secrets is not None:
        (project / ".dlt" / "secrets.toml").write_text(secrets)
    return project


def from_elsewhere(folder: Path, script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`script` started in `folder` with only what a crontab has: no project settings in the env."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__", "DESTINATION", "PIPELINES__", "DLT_PROJECT_DIR", "DLT_LOCAL_DIR"))
    }
    env["SOURCES__COPILOT__TODAY"] = TODAY.isoformat()  # the test-only pin, which configures nothing
    folder.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_configured_project_loads_its_data_wherever_cron_starts_it(isolated_dlt: Path) -> None:
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake:
        config = (
            f'enterprise = "{fake.enterprise.slug}"\nbase_url = "{fake.api_url}"\n'
            f'start_date = "{fake.enterprise.first_report_day}"\nrate_limit_min_wait = 0\n'
        )
        project = checkout(isolated_dlt, config, f'[sources.copilot]\naccess_token = "{TOKEN}"\n')
        elsewhere = isolated_dlt / "cron-home"
        checked = from_elsewhere(elsewhere, project / "pipelines" / "check.py")
        loaded = from_elsewhere(elsewhere, project / "pipelines" / "load.py", "--progress", "none")
        reported = from_elsewhere(elsewhere, project / "pipelines" / "report.py")
        tokens = {seen.authorization for seen in fake.calls("api")}
        days = fake.enterprise.report_days()
        lines = [line for day in days for line in report_lines(fake, "users-1-day", day)]

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"Checking enterprise '{fake.enterprise.slug}'" in checked.stdout
    assert loaded.returncode == 0, loaded.stderr
    assert "demo" not in (loaded.stdout + loaded.stderr).lower()
    # the project's token, from the project's secrets.toml, went to GitHub
    assert tokens == {f"Bearer {TOKEN}"}
    with duckdb.connect(str(project / "github_copilot.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM copilot_data.users_1_day").fetchall() == [(len(lines),)]
        assert db.execute("SELECT count(*) FROM copilot_data.enterprise_metrics").fetchall() == [(len(days),)]
    # the report reads the project's data and is written beside it, not the demo's
    assert reported.returncode == 0, reported.stderr
    assert "demo" not in reported.stderr.lower()
    report = (project / "github_copilot_report.html").read_text()
    assert f"to {days[-1].isoformat()} (newest day loaded)" in report and TOKEN not in report
    # nothing was written where the scripts were started
    assert list(elsewhere.iterdir()) == []
    assert not (project / f"{DEMO_PIPELINE}.duckdb").exists()


def test_an_unconfigured_project_says_so_and_loads_the_demo_into_its_own_file(isolated_dlt: Path) -> None:
    project = checkout(isolated_dlt)
    elsewhere = isolated_dlt / "cron-home"

    result = from_elsewhere(elsewhere, project / "pipelines" / "load.py", "--progress", "none")

    assert result.returncode == 0, result.stderr
    assert "No GitHub token configured" in result.stderr
    assert f"Nothing is configured yet (project folder {project})" in result.stderr
    assert f"Demo data is in {project / (DEMO_PIPELINE + '.duckdb')}" in result.stdout
    with duckdb.connect(str(project / f"{DEMO_PIPELINE}.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM copilot_data.seats").fetchall()[0][0] > 0
    assert not (project / "github_copilot.duckdb").exists()
    assert list(elsewhere.iterdir()) == []


def test_a_project_configured_in_its_files_alone_never_falls_back_to_the_demo(isolated_dlt: Path) -> None:
    project = checkout(isolated_dlt, 'enterprise = "octo-corp"\n')
    elsewhere = isolated_dlt / "cron-home"

    result = from_elsewhere(elsewhere, project / "pipelines" / "load.py", "--progress", "none")

    assert result.returncode == 2
    assert result.stderr.startswith("error: [invalid_config] No GitHub token configured")
    assert "sources.copilot.enterprise in config.toml" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(project.glob("*.duckdb")) and list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("env", "files", "found"),
    [
        # the tests' day pin and the shipped files configure nothing
        ({}, {"config.toml": "shipped"}, []),
        ({"PIPELINES__GITHUB_COPILOT__DESTINATION_TYPE": "duckdb"}, {}, []),
        # anything else does, in the environment or in the files
        ({"SOURCES__COPILOT__BASE_URL": "https://api.octo.ghe.com"}, {}, ["env SOURCES__COPILOT__BASE_URL"]),
        (
            {"GITHUB_COPILOT__SOURCES__COPILOT__ENTERPRISE": "octo"},
            {},
            ["env GITHUB_COPILOT__SOURCES__COPILOT__ENTERPRISE"],
        ),
        (
            {"PIPELINES__GITHUB_COPILOT__DESTINATION_TYPE": "postgres"},
            {},
            ["env PIPELINES__GITHUB_COPILOT__DESTINATION_TYPE"],
        ),
        (
            {"DESTINATION_TYPE": "postgres"},
            {},
            ["env DESTINATION_TYPE"],
        ),
        (
            {"DESTINATION__POSTGRES__CREDENTIALS": "postgresql://loader@db/analytics"},
            {},
            ["env DESTINATION__POSTGRES__CREDENTIALS"],
        ),
        (
            {},
            {"config.toml": "[sources.copilot]\nlookback_days = 3\n"},
            ["sources.copilot.lookback_days in config.toml"],
        ),
        (
            {},
            {"secrets.toml": '[destination.postgres]\ncredentials = "postgresql://x@y/z"\n'},
            ["destination in secrets.toml"],
        ),
        (
            {},
            {"config.toml": '[pipelines.github_copilot]\ndestination_type = "bigquery"\n'},
            ["pipelines.github_copilot.destination_type in config.toml"],
        ),
    ],
)
def test_what_counts_as_configured(
    isolated_dlt: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], files: dict[str, str], found: list[str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = isolated_dlt / ".dlt"
    settings.mkdir()
    for name, text in files.items():
        (settings / name).write_text((ROOT / ".dlt" / "config.toml").read_text() if text == "shipped" else text)
    with switched_run_context(RunContext(str(isolated_dlt))):
        assert configured_settings("github_copilot") == found
