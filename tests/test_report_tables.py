"""Report tables as dlt users expect them: wide rows load under the DuckDB memory cap, field names
that meet in one column are named in a clear error, and every row carries its `_dlt_load_id`."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from copilot_source import ReportDataError, find_source_error
from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub
from tests.conftest import NEWEST, make_pipeline, report_lines, rows, run, scalar, small_enterprise

USERS = "users-1-day"
PATHS = pytest.mark.parametrize("fast_path", [True, False], ids=["arrow", "python"])


@pytest.fixture
def enterprise() -> FakeEnterprise:
    return small_enterprise(first_report_day=NEWEST - timedelta(days=2))


def as_file(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def serve(fake: FakeGitHub, day: date, lines: list[dict[str, Any]]) -> None:
    """Serve `lines` as the day's one users-1-day file."""
    fake.link_overrides[(USERS, day)] = [0]
    fake.file_overrides[(USERS, day, 0)] = as_file(lines)


# ---- wide rows -------------------------------------------------------------------------------

WIDTH = 1_100


def test_lines_of_a_thousand_fields_load_under_the_default_duckdb_memory_cap(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the memory cap the source gives DuckDB by default (dlt's MERGE of such a table needs far more)
    served: list[dict[str, Any]] = []
    for day in fake.enterprise.report_days():
        lines = report_lines(fake, USERS, day)
        for line in lines:
            line.update({f"metric_{n:04d}": line["user_id"] + n for n in range(WIDTH)})
        serve(fake, day, lines)
        served.extend(lines)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",))
    assert scalar(pipeline, "SELECT current_setting('memory_limit')") == "183.1 MiB"
    # a second run re-reads (replaces) the trailing days
    run(pipeline, fake, resources=("users_1_day",))

    assert len([r for r in rows(pipeline, "DESCRIBE users_1_day") if r[0].startswith("metric_")]) == WIDTH
    assert rows(pipeline, "SELECT count(*), sum(metric_0000), sum(metric_1099) FROM users_1_day") == [
        (len(served), sum(line["metric_0000"] for line in served), sum(line["metric_1099"] for line in served))
    ]


# ---- names that meet in one column -----------------------------------------------------------


@PATHS
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda line: {**line, "UserId": line["user_id"]},
            "the line has the fields 'user_id' and 'UserId', which both load into the column 'user_id'.",
        ),
        (
            lambda line: {**line, "totals_by_cli": {"SessionCount": 1, "session_count": 2}},
            "the line has the fields 'SessionCount' and 'session_count', which both load into the column"
            " 'totals_by_cli__session_count'.",
        ),
        (
            lambda line: line | {"loc_added_sum": 1, "locAddedSum": 1},
            "the line has the fields 'loc_added_sum' and 'locAddedSum', which both load into the column"
            " 'loc_added_sum'.",
        ),
    ],
    ids=["key", "nested", "counter"],
)
def test_two_fields_that_load_into_one_column_are_bad_data(
    tmp_path: Path, fake: FakeGitHub, fast_path: bool, change: Any, problem: str
) -> None:
    day = fake.enterprise.report_days()[1]
    lines = report_lines(fake, USERS, day)
    lines[2] = change(lines[2])
    serve(fake, day, lines)
    pipeline = make_pipeline(tmp_path)
    with pytest.raises(Exception) as failure:
        run(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)
    error = find_source_error(failure.value)
    assert isinstance(error, ReportDataError)
    assert error.cause == f"users-1-day report for {day}, file 1 of 1, line 3: {problem}"
    assert "sources" not in pipeline.state


@PATHS
def test_a_field_named_in_another_case_loads_into_dlts_column(
    tmp_path: Path, fake: FakeGitHub, fast_path: bool
) -> None:
    day = fake.enterprise.report_days()[1]
    lines = report_lines(fake, USERS, day)
    renamed = [{("LocAddedSum" if k == "loc_added_sum" else k): v for k, v in line.items()} for line in lines]
    serve(fake, day, renamed)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)
    assert rows(pipeline, f"SELECT count(loc_added_sum), sum(loc_added_sum) FROM users_1_day WHERE day = '{day}'") == [
        (len(lines), sum(line["loc_added_sum"] for line in lines))
    ]


# ---- _dlt_load_id ----------------------------------------------------------------------------


def test_every_row_of_every_table_carries_the_id_of_the_load_that_wrote_it(tmp_path: Path, fake: FakeGitHub) -> None:
    # dlt adds it to row dicts (seats, and reports with fast_path=False); the source to Arrow tables
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    (first,) = [r[0] for r in rows(pipeline, "SELECT load_id FROM _dlt_loads")]
    tables = sorted(t for t in pipeline.default_schema.data_table_names() if not t.startswith("_dlt"))
    assert "users_1_day__totals_by_model_feature" in tables
    assert "enterprise_metrics__pull_requests__copilot_suggestions_by_comment_type" in tables
    for table in tables:
        assert rows(pipeline, f"SELECT DISTINCT _dlt_load_id FROM {table}") == [(first,)], table

    # a second run re-reads the trailing days: their rows come from the second load
    fake.enterprise.revisions[NEWEST] = 2
    run(pipeline, fake)
    (second,) = [r[0] for r in rows(pipeline, f"SELECT load_id FROM _dlt_loads WHERE load_id <> '{first}'")]
    reread = NEWEST - timedelta(days=3)
    for table in (t for t in tables if t.startswith(("users_1_day", "enterprise_metrics"))):
        by_day = rows(pipeline, f"SELECT day >= DATE '{reread}', _dlt_load_id FROM {table} GROUP BY ALL ORDER BY 1")
        assert by_day == ([(False, first)] if any(r[0] is False for r in by_day) else []) + [(True, second)], table
