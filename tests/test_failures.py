"""Loads that fail: one clear line with the failure's code, and the destination and cursor untouched."""

from __future__ import annotations

import copy
from pathlib import Path

import dlt
import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

import copilot_source
from copilot_source import CopilotSourceError, InvalidCredentials, find_source_error
from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.ops.runner import PIPELINE_NAME, run_load
from tests.conftest import NEWEST, TODAY, TOKEN, make_pipeline, run
from tests.failure_modes import FAILURES, WRONG_TOKEN, tiny_enterprise
from tests.scripts import fake_env, load


def table_counts(database: Path) -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'copilot_data'"
            ).fetchall()
        ]
        return {t: db.execute(f'SELECT count(*) FROM copilot_data."{t}"').fetchall()[0][0] for t in tables}


@pytest.mark.parametrize("code", list(FAILURES))
def test_a_failed_load_says_why_in_one_line_and_changes_nothing(
    isolated_dlt: Path, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake:
        # a first load that works, configured through the environment exactly like load.py
        for name, value in fake_env(fake).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PIPELINES__GITHUB_COPILOT__DESTINATION_TYPE", "duckdb")
        run_load(progress=None)
        database = isolated_dlt / f"{PIPELINE_NAME}.duckdb"
        counts = table_counts(database)
        state = copy.deepcopy(dlt.attach(PIPELINE_NAME).state)
        assert counts["users_1_day"] == sum(
            len(fake.enterprise.users_report_lines(d)) for d in fake.enterprise.report_days()
        )
        entities = state["sources"]["copilot"]["resources"]["users_1_day"]["entities"]
        assert entities[f"enterprise:{fake.enterprise.slug}"]["newest_day"] == NEWEST.isoformat()

        overrides = FAILURES[code](fake)
        result = load(isolated_dlt, fake_env(fake, **overrides))

    assert result.returncode == 1
    *retries, error = result.stderr.strip().splitlines()
    # one clear line, no traceback; before it only the retries of a refused connection, each
    # logged as it happened (dlt's default 5 attempts: 4 retries)
    assert len(retries) == (4 if code == "unreachable" else 0), result.stderr
    assert all("[WARNING]" in line and "the connection was refused; retrying in" in line for line in retries)
    assert error.startswith(f"error: [{code}] ")
    assert " Fix: " in error
    assert " Docs: https://docs.github.com/" in error
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert table_counts(database) == counts
    pipeline = dlt.attach(PIPELINE_NAME)
    assert pipeline.state == state
    # nothing half-extracted waits to be loaded by the next run
    assert not pipeline.has_pending_data


def test_a_failed_load_names_githubs_request_id(isolated_dlt: Path) -> None:
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake:
        result = load(isolated_dlt, fake_env(fake, access_token=WRONG_TOKEN))
        refused = [n for n, seen in enumerate(fake.calls("api"), start=1) if seen.status == 401]
    assert result.returncode == 1
    # the fake numbers its API answers FAKE:<n> in the order it received the requests
    assert refused
    assert any(f"GitHub request id: FAKE:{n:06X}" in result.stderr for n in refused), result.stderr


def named(key: str) -> str:
    """How an error must name a config key: the TOML key and its env var."""
    return f"`{key}` under [sources.copilot] (env SOURCES__COPILOT__{key.upper()})"


BAD_CONFIG: dict[str, tuple[dict[str, str | None], tuple[str, ...], str]] = {
    "no-enterprise": ({"enterprise": None}, (), named("enterprise")),
    "no-token": ({"access_token": None}, (), "SOURCES__COPILOT__ACCESS_TOKEN"),
    "start-not-a-date": ({"start_date": "last monday"}, (), named("start_date")),
    "start-too-early": ({"start_date": "2025-10-09"}, (), named("start_date")),
    "unknown-resource": ({}, ("--resources", "seats,users"), "Unknown resource name(s): users."),
    "plain-http": ({"base_url": "http://api.github.com"}, (), named("base_url")),
    "not-a-number": ({"lookback_days": "three"}, (), named("lookback_days")),
}


@pytest.mark.parametrize("case", list(BAD_CONFIG))
def test_bad_config_is_refused_before_any_request(isolated_dlt: Path, case: str) -> None:
    overrides, args, expected = BAD_CONFIG[case]
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake:
        result = load(isolated_dlt, fake_env(fake, **overrides), *args)
        assert fake.seen == []
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list(isolated_dlt.glob("*.duckdb"))


def test_library_users_catch_the_typed_error_from_dlt(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    with pytest.raises(PipelineStepFailed) as failure:
        run(pipeline, fake, access_token=WRONG_TOKEN)
    found = find_source_error(failure.value)
    assert isinstance(found, InvalidCredentials)
    assert isinstance(found, CopilotSourceError)
    assert found.code == "invalid_credentials"
    assert found.request_id is not None
    assert found.request_id.startswith("FAKE:")
    assert found.as_dict()["code"] == "invalid_credentials"


def test_run_load_raises_the_typed_error_itself(tmp_path: Path, fake: FakeGitHub) -> None:
    fake.metrics_enabled = False
    args = dict(
        enterprise=fake.enterprise.slug,
        access_token=fake.token,
        base_url=fake.api_url,
        start_date=fake.enterprise.first_report_day,
    )
    with pytest.raises(copilot_source.MetricsDisabled) as failure:
        run_load(
            pipeline_name="embedded",
            source_args=args,
            progress=None,
            destination=dlt.destinations.duckdb(str(tmp_path / "embedded.duckdb")),
        )
    assert failure.value.code == "metrics_disabled"
    assert "Enabled everywhere" in failure.value.fix


def test_every_failure_code_has_its_own_exception_class() -> None:
    classes = [getattr(copilot_source, name) for name in copilot_source.__all__ if name[0].isupper()]
    errors = [cls for cls in classes if isinstance(cls, type) and issubclass(cls, CopilotSourceError)]
    codes = {cls.code for cls in errors if cls is not CopilotSourceError}
    assert set(FAILURES) | {"invalid_config"} <= codes
    assert len(codes) == len(errors) - 1
    assert all(issubclass(cls, CopilotSourceError) for cls in errors)
