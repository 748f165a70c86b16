"""Shared fixtures: an isolated dlt home, a running fake GitHub, and a way to run the source.

Every test runs real dlt pipelines into real DuckDB files against the fake GitHub over real
HTTP on loopback. Expected values are computed from the NDJSON lines the fake serves, parsed
here with `json`, never through the code under test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest

from copilot_source import copilot_source
from copilot_source.config import utc_today
from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub

TOKEN = "ghp_TestTokenDoNotLeak0123456789abcdefABCD"
# the day every source in the session runs as (its `today` setting): a UTC midnight during
# the session moves nothing that the tests compute their expectations from
TODAY = utc_today()
NEWEST = TODAY - timedelta(days=3)


@pytest.fixture(autouse=True)
def isolated_dlt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh dlt home and working directory: no `.dlt/` of the repo, no leftover state."""
    for name in list(os.environ):
        if name.startswith(("SOURCES__", "DESTINATION", "PIPELINES__", "RUNTIME__", "NORMALIZE__")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_home"))
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "WARNING")
    # in this process and in every load.py / check.py the tests start
    monkeypatch.setenv("SOURCES__COPILOT__TODAY", TODAY.isoformat())
    # transient-failure retries in milliseconds, not seconds
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.01")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "0.1")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def small_enterprise(**overrides: Any) -> FakeEnterprise:
    settings: dict[str, Any] = dict(
        user_count=24,
        org_count=3,
        first_report_day=NEWEST - timedelta(days=9),
        newest_report_day=NEWEST,
        files_per_report=2,
    )
    settings.update(overrides)
    return FakeEnterprise(**settings)


@pytest.fixture
def enterprise() -> FakeEnterprise:
    return small_enterprise()


@pytest.fixture
def fake(enterprise: FakeEnterprise) -> Iterator[FakeGitHub]:
    with FakeGitHub(enterprise, token=TOKEN, today=TODAY) as server:
        yield server


def make_pipeline(tmp: Path, name: str = "copilot_test", **kwargs: Any) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=kwargs.pop("destination", None) or dlt.destinations.duckdb(str(tmp / f"{name}.duckdb")),
        dataset_name="copilot_data",
        **kwargs,
    )


def source_for(fake: FakeGitHub, **args: Any) -> Any:
    settings: dict[str, Any] = dict(
        enterprise=fake.enterprise.slug,
        access_token=fake.token,
        base_url=fake.api_url,
        start_date=fake.enterprise.first_report_day,
        rate_limit_min_wait=0,
    )
    settings.update(args)
    return copilot_source(**settings)


def run(pipeline: dlt.Pipeline, fake: FakeGitHub, resources: tuple[str, ...] = (), **args: Any) -> Any:
    source = source_for(fake, **args)
    if resources:
        source = source.with_resources(*resources)
    return pipeline.run(source)


def rows(pipeline: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql)]


def scalar(pipeline: dlt.Pipeline, sql: str) -> Any:
    return rows(pipeline, sql)[0][0]


def report_state(pipeline: dlt.Pipeline, table: str = "users_1_day", entity: str = "") -> dict[str, Any]:
    """What a report resource remembers of one enterprise's days: first_day, newest_day, holes."""
    entities = pipeline.state["sources"]["copilot"]["resources"][table]["entities"]
    return dict(entities[entity or f"enterprise:{FakeEnterprise().slug}"])


def report_lines(fake: FakeGitHub, report: str, day: date) -> list[dict[str, Any]]:
    """What GitHub served for a day, parsed independently of the code under test."""
    return [json.loads(line) for line in fake.enterprise.report_lines(report, day)]


def day_rows(fake: FakeGitHub, day: date) -> list[dict[str, Any]]:
    """Enterprise day objects, whichever file shape the fake serves."""
    out = []
    for line in report_lines(fake, "enterprise-1-day", day):
        out.extend(line.get("day_totals", [line]))
    return out


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
