"""Run `pipelines/load.py` and `pipelines/check.py` as a user does: a subprocess configured by env vars."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from copilot_source.demo.fake_github import FakeGitHub

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"
LOAD = PIPELINES / "load.py"
CHECK = PIPELINES / "check.py"
# runs a script with the root logger at DEBUG, so urllib3's request lines are printed too
DEBUG_WRAPPER = (
    "import logging, runpy, sys;"
    "logging.basicConfig(level=logging.DEBUG);"
    "sys.argv = sys.argv[1:];"
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def fake_env(fake: FakeGitHub, **overrides: str | None) -> dict[str, str]:
    """`SOURCES__COPILOT__*` pointing at the fake, as a user would set them; None removes a key."""
    env = {
        "ENTERPRISE": fake.enterprise.slug,
        "ACCESS_TOKEN": fake.token,
        "BASE_URL": fake.api_url,
        "START_DATE": fake.enterprise.first_report_day.isoformat(),
        "RATE_LIMIT_MIN_WAIT": "0",
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key.upper(), None)
        else:
            env[key.upper()] = value
    return {f"SOURCES__COPILOT__{key}": value for key, value in env.items()}


def run_script(
    script: Path, cwd: Path, env: dict[str, str], *args: str, debug: bool = False
) -> subprocess.CompletedProcess[str]:
    """The script in `cwd` with the test's environment (isolated dlt home) plus `env`; `cwd` is the
    project folder (DLT_PROJECT_DIR): its `.dlt/` is read and the DuckDB file written there."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    environment["DLT_PROJECT_DIR"] = str(cwd)
    # the destination as the checked-in .dlt/config.toml sets it (the test's cwd has no .dlt/)
    environment["PIPELINES__GITHUB_COPILOT__DESTINATION_TYPE"] = "duckdb"
    environment.update(env)
    command = [sys.executable, "-c", DEBUG_WRAPPER, str(script)] if debug else [sys.executable, str(script)]
    return subprocess.run([*command, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def load(cwd: Path, env: dict[str, str], *args: str, debug: bool = False) -> subprocess.CompletedProcess[str]:
    return run_script(LOAD, cwd, env, "--progress", "none", *args, debug=debug)


def check(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_script(CHECK, cwd, env, *args)
