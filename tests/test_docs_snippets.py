"""Every snippet of the README and docs/ works as shown.

TOML snippets parse and name only settings the source has; Python snippets compile; every shell
command is either run here, parsed by the script's own argument parser, or exempt with the reason
(the tests that cover it). The README's querying commands run on a real demo load, and its "own dlt
project" snippet loads a real PostgreSQL database. The README's SQL is checked value by value in
`test_readme_queries.py`; the docs' own Python snippets (error handling, views) run against the fake.
Not run, by their nature: the scheduler recipes (Airflow, Dagster, GitHub Actions, cron: they need
those systems; each calls what the tests run — `load.py`, or `copilot_source()` in a pipeline) and
the credentials of warehouses this machine cannot reach (their TOML parses and names real settings).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import dlt
import duckdb
import psycopg2
import pytest
import tomlkit
from dlt.pipeline.exceptions import PipelineStepFailed

from copilot_source import InvalidCredentials, copilot_source
from copilot_source.accounts import GitHubAppCredentials
from copilot_source.demo.fake_github import FakeGitHub
from tests.conftest import TODAY, small_enterprise
from tests.postgres import PostgresServer, running_postgres
from tests.scripts import fake_env

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
README = ROOT / "README.md"

# shell commands not run here, and why that is safe
EXEMPT = {
    "pip install": "the install is what .ci/run does on a fresh machine, exactly as the README says",
    "python3 -m venv": "the install is what .ci/run does on a fresh machine, exactly as the README says",
    "pytest": "the test command itself: CI runs it",
    "ruff": "CI runs the linters",
    "bash .ci/run": "CI itself",
    "python -m benchmarks": "minutes long; tests/test_scale.py runs the benchmark code on small sizes",
}


def snippets(language: str, document: Path | None = None) -> list[tuple[str, str]]:
    """(where, text) of each fenced block of `language`."""
    found = []
    for path in [document] if document else DOCUMENTS:
        text = path.read_text()
        for match in re.finditer(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M):
            line = text[: match.start()].count("\n") + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return found


def commands() -> list[tuple[str, str]]:
    """Each command line of the bash blocks (comments and continuation lines joined)."""
    lines = []
    for where, text in snippets("bash"):
        for line in text.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                lines.append((where, line))
    return lines


def test_every_toml_snippet_parses_and_names_only_real_settings() -> None:
    settings = set(inspect.signature(copilot_source).parameters)
    app_settings = set(GitHubAppCredentials.__annotations__)
    found = snippets("toml")
    assert len(found) >= 15
    for where, text in found:
        document = tomlkit.parse(text).unwrap()
        copilot = document.get("sources", {}).get("copilot", {})
        app = copilot.pop("github_app", {})
        assert set(copilot) <= settings, where
        assert set(app) <= app_settings, where
    # the commented-out keys of the shipped files are real settings too
    for shipped in (ROOT / ".dlt" / "config.toml", ROOT / ".dlt" / "example.secrets.toml"):
        uncommented = re.sub(r"^# ?(\w+ = |\[[\w.]+\]$)", r"\1", shipped.read_text(), flags=re.M)
        copilot = tomlkit.parse(uncommented).unwrap()["sources"]["copilot"]
        app = copilot.pop("github_app", {})
        assert set(copilot) <= settings, shipped
        assert set(app) <= app_settings, shipped


def test_every_python_snippet_compiles() -> None:
    found = snippets("python")
    assert len(found) >= 6
    for where, text in found:
        compile(text, where, "exec")


def test_every_shell_command_is_run_parsed_or_exempt_with_a_reason() -> None:
    scripts: dict[str, list[list[str]]] = {}
    for where, line in commands():
        words = shlex.split(line)
        if words[:2] == ["python", "-c"] or words[0] == "dlt":
            continue  # run for real in the next test
        if any(line.startswith(prefix) for prefix in EXEMPT):
            continue
        assert words[0] == "python" and words[1].startswith("pipelines/"), f"{where}: {line} is not covered"
        scripts.setdefault(words[1], []).append(words[2:])
    assert set(scripts) == {"pipelines/load.py", "pipelines/check.py", "pipelines/report.py"}
    # each script's own parser accepts the options as written (argparse exits 2 on anything else)
    for script, argvs in scripts.items():
        probe = (
            "import importlib.util, json, sys\n"
            f"spec = importlib.util.spec_from_file_location('script', {str(ROOT / script)!r})\n"
            "module = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(module)\n"
            "for argv in json.loads(sys.argv[1]):\n"
            "    module.parse_args(argv)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", probe, json.dumps(argvs)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{script} {argvs}: {result.stderr}"


def run_shell(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    words = shlex.split(line)
    if words[0] == "python":
        words[0] = sys.executable
    elif words[0] == "dlt":
        words[0] = str(Path(sys.executable).parent / "dlt")  # the CLI the install puts beside python
    return subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_readme_query_commands_work_right_after_the_demo(isolated_dlt: Path) -> None:
    load = subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / "load.py"), "--progress", "none"],
        cwd=isolated_dlt,
        env={**os.environ, "DLT_PROJECT_DIR": str(isolated_dlt)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert load.returncode == 0, load.stderr
    newest = TODAY.fromordinal(TODAY.toordinal() - 3).isoformat()  # the demo's newest report day

    querying = README.read_text().split("## Querying the result")[1].split("\n## ")[0]
    shell = [line for _, text in snippets("bash", README) for line in text.splitlines() if line in querying]
    (one_liner,) = [line for line in shell if line.startswith("python -c")]
    result = run_shell(one_liner, isolated_dlt)
    assert result.returncode == 0, result.stderr
    assert newest in result.stdout  # the newest day comes first

    (dataset_snippet,) = [text for _, text in snippets("python", README) if "dataset()" in text]
    script = isolated_dlt / "snippet.py"
    script.write_text(dataset_snippet)
    result = subprocess.run([sys.executable, str(script)], cwd=isolated_dlt, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "[5 rows x" in result.stdout and result.stdout.split()[0] == "day"

    for command in re.findall(r"`(dlt pipeline [^`]+)`", querying):
        result = run_shell(command, isolated_dlt)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert "github_copilot_demo" in result.stdout + result.stderr


@pytest.fixture
def postgres() -> Any:
    with running_postgres() as server:
        yield server


def test_the_readme_own_project_snippet_loads_postgres(
    isolated_dlt: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (snippet,) = [text for _, text in snippets("python", README) if "with_resources" in text]
    enterprise = small_enterprise()
    with FakeGitHub(enterprise, today=TODAY) as fake:
        url = postgres.create_database("analytics")
        # configured the way the README says: the project's settings, here as env vars
        monkeypatch.setenv("SOURCES__COPILOT__ENTERPRISE", enterprise.slug)
        monkeypatch.setenv("SOURCES__COPILOT__ACCESS_TOKEN", fake.token)
        monkeypatch.setenv("SOURCES__COPILOT__BASE_URL", fake.api_url)
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
        namespace: dict[str, Any] = {}
        exec(compile(snippet, "README.md", "exec"), namespace)
        expected_users = sum(len(fake.report_lines("users-1-day", day)) for day in enterprise.report_days())
        expected_seats = len(enterprise.seats(TODAY))
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM copilot_data.users_1_day")
        assert cursor.fetchone() == (expected_users,)
        cursor.execute("SELECT count(*) FROM copilot_data.seats WHERE _dlt_valid_to IS NULL")
        assert cursor.fetchone() == (expected_seats,)
        cursor.execute("SELECT count(DISTINCT snapshot_day) FROM copilot_data.seat_activity")
        assert cursor.fetchone() == (1,)


def test_the_error_handling_snippet_finds_the_source_error(
    isolated_dlt: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    (snippet,) = [text for _, text in snippets("python", ROOT / "docs" / "development.md")]
    monkeypatch.setenv("SOURCES__COPILOT__ENTERPRISE", fake.enterprise.slug)
    monkeypatch.setenv("SOURCES__COPILOT__ACCESS_TOKEN", "ghp_" + "x" * 36)  # a token GitHub rejects
    monkeypatch.setenv("SOURCES__COPILOT__BASE_URL", fake.api_url)
    namespace: dict[str, Any] = {}
    with pytest.raises(PipelineStepFailed):
        exec(compile(snippet, "docs/development.md", "exec"), namespace)
    assert isinstance(namespace["error"], InvalidCredentials)


def test_the_views_snippet_creates_the_views(
    isolated_dlt: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    (snippet,) = [text for _, text in snippets("python", ROOT / "docs" / "analytics.md")]
    for key, value in fake_env(fake).items():
        monkeypatch.setenv(key, value)
    pipeline = dlt.pipeline("views_snippet", destination=dlt.destinations.duckdb(str(isolated_dlt / "v.duckdb")))
    namespace: dict[str, Any] = {"pipeline": pipeline, "copilot_source": copilot_source}
    exec(compile(snippet, "docs/analytics.md", "exec"), namespace)
    with duckdb.connect(str(isolated_dlt / "v.duckdb"), read_only=True) as db:
        views = {row[0] for row in db.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        days = len(fake.enterprise.report_days())
        assert db.execute(f"SELECT count(*) FROM {pipeline.dataset_name}.active_users_by_day").fetchone() == (days,)
    assert {"active_users_by_day", "acceptance_by_week", "idle_seats", "seat_holders"} <= views
