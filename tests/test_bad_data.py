"""What GitHub's report files may hold: bad lines fail their day loudly, new things load as data.

A line that is not JSON or lacks a key field fails the run with a message naming the day, the
file and the line; nothing of that run is loaded and the cursor stays where it was. Empty files,
gzip bodies, unknown fields and unknown IDE, feature and model names are data, not errors.
"""

from __future__ import annotations

import gzip
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from copilot_source import ReportDataError, find_source_error
from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub
from tests.compare import all_tables, source_state
from tests.conftest import NEWEST, make_pipeline, report_lines, rows, run, small_enterprise

USERS = "users-1-day"


@pytest.fixture
def enterprise() -> FakeEnterprise:
    """Six report days are enough here (conftest's `fake` serves this enterprise)."""
    return small_enterprise(first_report_day=NEWEST - timedelta(days=5))


def file_lines(fake: FakeGitHub, day: date, index: int) -> list[str]:
    """The lines GitHub serves in one file of a day's users report."""
    return fake.enterprise.split_files(fake.enterprise.report_lines(USERS, day))[index]


def as_file(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def served_users(fake: FakeGitHub) -> int:
    return sum(len(report_lines(fake, USERS, day)) for day in fake.enterprise.report_days())


def expect_bad_data(pipeline: Any, fake: FakeGitHub, **args: Any) -> ReportDataError:
    with pytest.raises(Exception) as failure:
        run(pipeline, fake, **args)
    error = find_source_error(failure.value)
    assert isinstance(error, ReportDataError), failure.value
    assert error.code == "bad_report_data"
    return error


def test_a_bad_json_line_fails_its_day_and_loads_nothing_of_the_run(tmp_path: Path, fake: FakeGitHub) -> None:
    enterprise = fake.enterprise
    enterprise.newest_report_day = NEWEST - timedelta(days=2)
    pipeline = make_pipeline(tmp_path)
    resources = ("users_1_day", "enterprise_metrics")
    run(pipeline, fake, resources=resources)
    before, state_before = all_tables(pipeline), source_state(pipeline)

    # GitHub corrects a loaded day and publishes two more, one with a broken line in its second file
    enterprise.revisions[NEWEST - timedelta(days=3)] = 3
    enterprise.newest_report_day = NEWEST
    bad_day = NEWEST - timedelta(days=1)
    lines = file_lines(fake, bad_day, 1)
    assert len(lines) > 3
    lines[2] = lines[2][: len(lines[2]) // 2]
    fake.file_overrides[(USERS, bad_day, 1)] = as_file(lines)

    error = expect_bad_data(pipeline, fake, resources=resources)
    assert error.cause.startswith(f"users-1-day report for {bad_day}, file 2 of 2, line 3: the line is not valid JSON")
    assert "cursor did not move" in error.fix
    # nothing of the failed run: not the correction, not the good new day, not the bad day's good lines
    assert all_tables(pipeline) == before
    assert source_state(pipeline) == state_before

    # GitHub fixes the file: the next run loads everything
    fake.file_overrides.clear()
    run(pipeline, fake, resources=resources)
    assert rows(pipeline, "SELECT count(*), max(day) FROM users_1_day") == [(served_users(fake), NEWEST)]


def without_user_id(line: str) -> str:
    record = json.loads(line)
    del record["user_id"]
    return json.dumps(record)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (without_user_id, "the line lacks user_id."),
        (lambda line: line.replace('"user_id":', '"user_id"'), "the line is not valid JSON (Expecting ':' delimiter)."),
        (lambda line: "[1, 2]", "the line is not a JSON object."),
        (lambda line: line[:-1] + ',"user_id":5}', "the line names the field 'user_id' twice."),
        (lambda line: line[:-1] + ',"ratio":NaN}', "the line is not valid JSON (NaN is not a JSON number)."),
        (
            lambda line: line.replace('"user_id":', '"user_id":"u-').replace(',"user_login"', '","user_login"'),
            'the line has user_id "u-{user}", which is not a bigint like the column user_id.',
        ),
        (lambda line: '{"day_totals": [1]}', "the line has a day_totals[0] that is not an object."),
        (
            lambda line: line[:-1] + ',"note":"\\ud800"}',
            "the line holds text that is not valid Unicode (half of a surrogate pair).",
        ),
    ],
    ids=[
        "no-user-id",
        "bad-json",
        "not-an-object",
        "field-twice",
        "nan",
        "user-id-text",
        "day-row-not-an-object",
        "lone-surrogate",
    ],
)
@pytest.mark.parametrize("fast_path", [True, False], ids=["arrow", "python"])
def test_both_parsers_name_the_day_file_line_and_problem(
    tmp_path: Path, fake: FakeGitHub, fast_path: bool, damage: Any, problem: str
) -> None:
    day = fake.enterprise.report_days()[4]
    lines = file_lines(fake, day, 0)
    lines[1] = damage(lines[1])
    fake.file_overrides[(USERS, day, 0)] = as_file(lines)
    pipeline = make_pipeline(tmp_path)

    error = expect_bad_data(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)
    user = json.loads(file_lines(fake, day, 0)[1])["user_id"]
    assert error.cause == f"users-1-day report for {day}, file 1 of 2, line 2: {problem.format(user=user)}"
    # nothing loaded, nothing pending, no cursor
    assert not pipeline.list_normalized_load_packages()
    assert "sources" not in pipeline.state


def test_a_last_line_that_never_parses_is_bad_data_not_a_network_error(tmp_path: Path, fake: FakeGitHub) -> None:
    day = fake.enterprise.report_days()[2]
    lines = file_lines(fake, day, 1)
    lines[-1] = lines[-1][:-5]
    fake.file_overrides[(USERS, day, 1)] = as_file(lines)
    pipeline = make_pipeline(tmp_path)

    error = expect_bad_data(pipeline, fake, resources=("users_1_day",), concurrency=1)
    assert error.cause.startswith(f"users-1-day report for {day}, file 2 of 2, line {len(lines)}: the line is not")
    # it looked like a cut transfer, so it was downloaded again before being called bad data
    assert len(fake.calls("files", f"/{day}/1.ndjson")) == 5


def test_a_gzip_body_is_read_and_its_lines_numbered_after_decompression(tmp_path: Path, fake: FakeGitHub) -> None:
    day = fake.enterprise.report_days()[3]
    lines = file_lines(fake, day, 0)
    broken = [*lines[:4], "{not json", *lines[4:]]
    fake.file_overrides[(USERS, day, 0)] = gzip.compress(as_file(broken))
    pipeline = make_pipeline(tmp_path)

    error = expect_bad_data(pipeline, fake, resources=("users_1_day",))
    assert error.cause.startswith(f"users-1-day report for {day}, file 1 of 2, line 5: the line is not valid JSON")

    fake.file_overrides[(USERS, day, 0)] = gzip.compress(as_file(lines))
    run(pipeline, fake, resources=("users_1_day",))
    expected = report_lines(fake, USERS, day)
    assert rows(pipeline, f"SELECT count(*), sum(loc_added_sum) FROM users_1_day WHERE day = DATE '{day}'") == [
        (len(expected), sum(line["loc_added_sum"] for line in expected))
    ]
    assert rows(pipeline, "SELECT count(*) FROM users_1_day") == [(served_users(fake),)]


def test_an_empty_file_is_an_empty_part_of_its_day(tmp_path: Path, fake: FakeGitHub) -> None:
    day = fake.enterprise.report_days()[5]
    fake.file_overrides[(USERS, day, 1)] = b""
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",))

    first_file = [json.loads(line) for line in file_lines(fake, day, 0)]
    assert rows(pipeline, f"SELECT count(*), sum(loc_added_sum) FROM users_1_day WHERE day = DATE '{day}'") == [
        (len(first_file), sum(line["loc_added_sum"] for line in first_file))
    ]
    others = served_users(fake) - len(report_lines(fake, USERS, day))
    assert rows(pipeline, f"SELECT count(*) FROM users_1_day WHERE day <> DATE '{day}'") == [(others,)]


def test_unknown_fields_and_enum_values_load_as_data(tmp_path: Path, fake: FakeGitHub) -> None:
    day = fake.enterprise.report_days()[1]
    records = [json.loads(line) for line in file_lines(fake, day, 0)]
    # a user with an element in each array the test renames (the fake's arrays vary by day)
    first = next(r for r in records if r["totals_by_language_model"])
    first["totals_by_ide"][0]["ide"] = "zed"
    first["totals_by_feature"][0]["feature"] = "copilot_space_agent"
    first["totals_by_language_model"][0]["model"] = "gpt-9-preview"
    first["used_copilot_spaces"] = True
    first["totals_by_copilot_app"] = {"session_count": 7, "surface": "desktop"}
    first["totals_by_3rd_party_agent"] = [{"agent": "acme-coder", "session_count": 3}, {"agent": "other", "x": 1}]
    fake.file_overrides[(USERS, day, 0)] = as_file([json.dumps(r) for r in records])
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",))

    user = first["user_id"]
    where = f"WHERE day = DATE '{day}' AND user_id = {user}"
    assert rows(pipeline, f"SELECT ide FROM users_1_day__totals_by_ide {where} AND list_index = 0") == [("zed",)]
    assert rows(pipeline, f"SELECT feature FROM users_1_day__totals_by_feature {where} AND list_index = 0") == [
        ("copilot_space_agent",)
    ]
    assert rows(pipeline, f"SELECT model FROM users_1_day__totals_by_language_model {where} AND list_index = 0") == [
        ("gpt-9-preview",)
    ]
    assert rows(
        pipeline,
        "SELECT used_copilot_spaces, totals_by_copilot_app__session_count, totals_by_copilot_app__surface"
        f" FROM users_1_day {where}",
    ) == [(True, 7, "desktop")]
    assert rows(
        pipeline,
        f"SELECT list_index, agent, session_count, x FROM users_1_day__totals_by_3rd_party_agent {where}"
        " ORDER BY list_index",
    ) == [(0, "acme-coder", 3, None), (1, "other", None, 1)]
    assert rows(pipeline, "SELECT count(*) FROM users_1_day") == [(served_users(fake),)]
