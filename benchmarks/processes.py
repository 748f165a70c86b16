"""Processes of a benchmark: the fake GitHub serving from its own, and one per measured run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Enterprise:
    """The size of a fake enterprise, as the fake GitHub's command line takes it."""

    users: int
    days: int
    detail: int = 1
    files_per_report: int = 2
    active_percent: int = 70
    # reports generated beforehand; the fake makes any other on request
    reports: str = "users-1-day"

    def args(self) -> list[str]:
        return [
            f"--users={self.users}",
            f"--days={self.days}",
            f"--detail={self.detail}",
            f"--files-per-report={self.files_per_report}",
            f"--active-percent={self.active_percent}",
            f"--reports={self.reports}",
        ]


def _environment(home: Path) -> dict[str, str]:
    """No configuration leaks in: a fresh dlt home, and none of the caller's dlt variables."""
    prefixes = (
        "SOURCES__",
        "DESTINATION",
        "PIPELINES__",
        "RUNTIME__",
        "NORMALIZE__",
        "EXTRACT__",
        "LOAD__",
        "DATA_WRITER",
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    environment.update(DLT_DATA_DIR=str(home / "dlt"), RUNTIME__LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    return environment


def generate(enterprise: Enterprise, storage: Path) -> dict[str, Any]:
    """The report files of the enterprise (generated once per size, then reused)."""
    command = [sys.executable, "-m", "copilot_source.demo.fake_github", "generate", f"--storage={storage}"]
    done = subprocess.run([*command, *enterprise.args()], capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class FakeServer:
    """A running `python -m copilot_source.demo.fake_github serve`; `stop()` returns the calls it saw."""

    def __init__(self, process: subprocess.Popen[str], ready: dict[str, Any]) -> None:
        self.process = process
        self.info = ready
        self.calls: dict[str, Any] | None = None

    def stop(self) -> dict[str, Any]:
        if self.calls is None:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.close()
            self.calls = json.loads(self.process.stdout.readline())
            self.process.wait(timeout=30)
        return self.calls


@contextmanager
def fake_github(enterprise: Enterprise, storage: Path, latency: float = 0.0) -> Iterator[FakeServer]:
    command = [sys.executable, "-m", "copilot_source.demo.fake_github", "serve", f"--storage={storage}"]
    process = subprocess.Popen(
        [*command, *enterprise.args(), f"--latency={latency}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the fake GitHub did not start")
        server = FakeServer(process, json.loads(line))
        yield server
        server.stop()
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def measure(task: str, params: dict[str, Any], folder: Path, shipped_settings: bool = True) -> dict[str, Any]:
    """Run one task of `benchmarks.tasks` in a fresh process working in `folder` (kept between
    calls: a second run there continues the first one's pipeline). With `shipped_settings` it
    sees the repository's `.dlt/config.toml` and `.dlt/example.secrets.toml` as a user's copy."""
    settings = folder / ".dlt"
    settings.mkdir(parents=True, exist_ok=True)
    for shipped, name in (("config.toml", "config.toml"), ("example.secrets.toml", "secrets.toml")):
        target = settings / name
        if shipped_settings:
            shutil.copyfile(ROOT / ".dlt" / shipped, target)
        else:
            target.unlink(missing_ok=True)
    request = json.dumps({"task": task, "params": params}, default=str)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.tasks", request],
        capture_output=True,
        text=True,
        cwd=folder,
        env=_environment(folder),
    )
    if done.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
