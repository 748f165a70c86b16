"""Another team's dlt project installs this package and runs `copilot_source` beside its own resource.

The project lives in its own folder with its own `.dlt/` and pipeline script; the package is
installed (not linked) into a fresh environment. Nothing of this repository is on its path or
in its configuration: the enterprise, the token and the destination come from the project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import duckdb

from copilot_source.demo.fake_github import FakeGitHub
from tests.conftest import TODAY, report_lines, small_enterprise

ROOT = Path(__file__).resolve().parent.parent
PROJECT_TOKEN = "ghp_TheirProjectsOwnToken0123456789abcdefXY"
COST_CENTERS = [("octo-org-0", "CC-100"), ("octo-org-1", "CC-200"), ("octo-org-2", "CC-300")]

PIPELINE_SCRIPT = '''\
"""The project's daily load: its own cost centers, and GitHub Copilot usage from copilot_source."""

import csv
from pathlib import Path

import dlt

import copilot_source
from copilot_source import copilot_source as github_copilot


@dlt.resource(name="cost_centers", write_disposition="replace", primary_key="organization")
def cost_centers():
    with open(Path(__file__).parent.parent / "data" / "cost_centers.csv", newline="") as file:
        yield from csv.DictReader(file)


if __name__ == "__main__":
    pipeline = dlt.pipeline("analytics", dataset_name="analytics")
    copilot = github_copilot().with_resources("seats", "users_1_day")
    info = pipeline.run([copilot, cost_centers()])
    info.raise_on_failed_jobs()
    print("copilot_source from", copilot_source.__file__)
'''


def install_package(into: Path) -> Path:
    """A fresh environment with this package installed from a copy of its sources; returns its python.

    The environment borrows the test interpreter's third-party packages (dlt, pyarrow, ...) through
    a path file, so the install is offline and quick; `copilot_source` itself is a real install.
    """
    sources = into / "sources"
    sources.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, sources / name)
    shutil.copytree(ROOT / "copilot_source", sources / "copilot_source", ignore=shutil.ignore_patterns("__pycache__"))
    env = into / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # a plain path line: the test environment's own .pth files (its editable install) are not run
    (Path(site) / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # no build isolation: setuptools comes with dlt, nothing is downloaded
    offline = ["--no-deps", "--no-build-isolation", "--no-index", "--ignore-installed", "--disable-pip-version-check"]
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *offline, str(sources)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return python


def write_project(project: Path, fake: FakeGitHub) -> None:
    (project / ".dlt").mkdir(parents=True)
    (project / "pipelines").mkdir()
    (project / "data").mkdir()
    (project / ".dlt" / "config.toml").write_text(
        textwrap.dedent(
            f"""\
            [pipelines.analytics]
            destination_type = "duckdb"

            [sources.copilot]
            enterprise = "{fake.enterprise.slug}"
            base_url = "{fake.api_url}"
            start_date = "{fake.enterprise.first_report_day}"
            lookback_days = 2
            """
        )
    )
    # dlt keeps credentials (even a DuckDB file's path) out of config.toml
    (project / ".dlt" / "secrets.toml").write_text(
        f'[sources.copilot]\naccess_token = "{PROJECT_TOKEN}"\n\n'
        '[destination.duckdb]\ncredentials = "warehouse.duckdb"\n'
    )
    (project / "pipelines" / "daily.py").write_text(PIPELINE_SCRIPT)
    lines = ["organization,cost_center", *(f"{org},{cc}" for org, cc in COST_CENTERS)]
    (project / "data" / "cost_centers.csv").write_text("\n".join(lines) + "\n")


def test_an_existing_dlt_project_runs_the_installed_source(tmp_path: Path) -> None:
    python = install_package(tmp_path / "install")
    enterprise = small_enterprise(user_count=12)
    with FakeGitHub(enterprise, token=PROJECT_TOKEN, today=TODAY) as fake:
        project = tmp_path / "their-project"
        write_project(project, fake)
        # only what any shell has: no PYTHONPATH, no dlt or source settings of ours
        env = {
            k: v
            for k, v in os.environ.items()
            if k != "PYTHONPATH" and not k.startswith(("SOURCES__", "DESTINATION", "PIPELINES__"))
        }
        env["DLT_DATA_DIR"] = str(tmp_path / "their-dlt-home")

        result = subprocess.run(
            [str(python), "pipelines/daily.py"], cwd=project, env=env, capture_output=True, text=True, timeout=300
        )

        assert result.returncode == 0, result.stderr
        # the installed copy ran, not this checkout
        installed_at = result.stdout.split("copilot_source from ")[-1].strip()
        assert installed_at.startswith(str(tmp_path / "install" / "env")), installed_at
        assert str(ROOT) not in installed_at
        # the project's token, from the project's secrets, reached GitHub
        assert {s.authorization for s in fake.calls("api")} == {f"Bearer {PROJECT_TOKEN}"}
        days = enterprise.report_days()
        lines = [line for day in days for line in report_lines(fake, "users-1-day", day)]
        seats = enterprise.seats(TODAY)

    with duckdb.connect(str(project / "warehouse.duckdb"), read_only=True) as db:

        def count(table: str) -> int:
            return int(db.execute(f"SELECT count(*) FROM analytics.{table}").fetchall()[0][0])

        assert count("users_1_day") == len(lines)
        assert count("users_1_day__totals_by_ide") == sum(len(line["totals_by_ide"]) for line in lines)
        assert count("seats") == len(seats)
        assert sorted(db.execute("SELECT organization, cost_center FROM analytics.cost_centers").fetchall()) == sorted(
            COST_CENTERS
        )
        tables = {row[0] for row in db.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    # only the resources the project chose
    assert "seat_activity" not in tables and "enterprise_metrics" not in tables
