"""`runner.run_load`, what `pipelines/load.py` runs: DuckDB gets a memory cap unless configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from copilot_source.demo.fake_github import FakeGitHub
from tests.conftest import TODAY

# runs the load as a user would (fresh process, `.dlt/` of the working folder) and reports
# DuckDB's memory limit as the loading connection saw it
SCRIPT = """
import dlt
from copilot_source.ops.runner import run_load
run_load(pipeline_name="runner_test", resources=("seats",), progress=None)
pipeline = dlt.attach("runner_test")
with pipeline.sql_client() as client:
    print(client.execute_sql("SELECT current_setting('memory_limit')")[0][0])
    print(client.execute_sql("SELECT count(*) FROM seats")[0][0])
"""


def memory_limit_seen(folder: Path, fake: FakeGitHub, secrets: str = "") -> list[str]:
    (folder / ".dlt").mkdir(exist_ok=True)
    (folder / ".dlt" / "config.toml").write_text('[pipelines.runner_test]\ndestination_type = "duckdb"\n')
    (folder / ".dlt" / "secrets.toml").write_text(secrets)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env.update(
        SOURCES__COPILOT__ENTERPRISE=fake.enterprise.slug,
        SOURCES__COPILOT__ACCESS_TOKEN=fake.token,
        SOURCES__COPILOT__BASE_URL=fake.api_url,
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_duckdb_memory_is_capped_by_default(isolated_dlt: Path, fake: FakeGitHub) -> None:
    limit, unit, seats = memory_limit_seen(isolated_dlt, fake)
    assert (limit, unit) == ("183.1", "MiB")  # 192 MB
    assert int(seats) == len(fake.enterprise.seats(TODAY))


def test_a_configured_duckdb_memory_limit_is_kept(isolated_dlt: Path, fake: FakeGitHub) -> None:
    secrets = '[destination.duckdb.credentials.global_config]\nmemory_limit = "512MB"\n'
    limit, unit, _ = memory_limit_seen(isolated_dlt, fake, secrets)
    assert (limit, unit) == ("488.2", "MiB")  # 512 MB
