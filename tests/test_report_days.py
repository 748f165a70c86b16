"""A report day loads once, whole and as its own: one row per key, every table, the day asked for.

- A line GitHub serves twice (a link listed twice, a user in two files) loads once: the first
  copy, with a warning saying how many copies were left out. A re-read replaces duplicates an
  older version loaded.
- A report or a line for another day than the one asked for fails that run with
  `bad_report_data` naming the day, file and line; the source's record of days does not move.
- A partial extract (`add_limit`) records nothing it did not finish: the next run completes
  every table of every day. Pipelines of older versions continue from their recorded day.
- GitHub's documented wrapper records and flat records load side by side, every row of each.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest

from copilot_source import ReportDataError, destinations, find_source_error, resources
from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub
from copilot_source.demo.fake_github.data import BREAKDOWNS
from copilot_source.reports import arrow as arrow_reports
from copilot_source.reports import batching, reader
from tests.compare import assert_same_data, source_state
from tests.conftest import (
    NEWEST,
    TODAY,
    day_rows,
    make_pipeline,
    report_lines,
    report_state,
    rows,
    run,
    scalar,
    small_enterprise,
    source_for,
)
from tests.logs import dlt_warnings

USERS = "users-1-day"
ENTERPRISE = "enterprise-1-day"
PATHS = pytest.mark.parametrize("fast_path", [True, False], ids=["arrow", "python"])

REPORTS = ("enterprise-1-day", "users-1-day")


@pytest.fixture
def enterprise() -> FakeEnterprise:
    """Six report days (conftest's `fake` serves this enterprise)."""
    return small_enterprise(first_report_day=NEWEST - timedelta(days=5))


def file_lines(fake: FakeGitHub, report: str, day: date, index: int) -> list[str]:
    return fake.enterprise.split_files(fake.enterprise.report_lines(report, day))[index]


def as_file(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def all_user_lines(fake: FakeGitHub) -> list[dict[str, Any]]:
    return [line for day in fake.enterprise.report_days() for line in report_lines(fake, USERS, day)]


def assert_one_row_per_key(pipeline: dlt.Pipeline, lines: list[dict[str, Any]]) -> None:
    """Every table holds exactly the rows of `lines` (unique users per day), no key twice."""
    assert rows(pipeline, "SELECT count(*), count(DISTINCT (day, enterprise_id, user_id)) FROM users_1_day") == [
        (len(lines), len(lines))
    ]
    for breakdown in BREAKDOWNS:
        table = f"users_1_day__{breakdown}"
        expected = sum(len(line[breakdown]) for line in lines)
        got = rows(pipeline, f"SELECT count(*), count(DISTINCT (day, enterprise_id, user_id, list_index)) FROM {table}")
        assert got == [(expected, expected)], table


def expect_bad_data(pipeline: dlt.Pipeline, fake: FakeGitHub, **args: Any) -> ReportDataError:
    with pytest.raises(Exception) as failure:
        run(pipeline, fake, **args)
    error = find_source_error(failure.value)
    assert isinstance(error, ReportDataError), failure.value
    assert error.code == "bad_report_data"
    return error


# ---- one row per key -------------------------------------------------------------------------


@PATHS
def test_a_link_listed_twice_loads_its_lines_once(tmp_path: Path, fake: FakeGitHub, fast_path: bool) -> None:
    day = fake.enterprise.report_days()[2]
    fake.link_overrides[(USERS, day)] = [0, 1, 1]
    pipeline = make_pipeline(tmp_path)
    with dlt_warnings() as warnings:
        run(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)

    assert_one_row_per_key(pipeline, all_user_lines(fake))
    copies = len(file_lines(fake, USERS, day, 1))
    assert [m for m in warnings if "later copies were left out" in m] == [
        f"GitHub's users-1-day report for {day} holds {copies} line(s) whose key (day, enterprise_id, user_id)"
        " an earlier line of that day already had; the first line of each key was loaded, the later copies"
        " were left out."
    ]


@PATHS
def test_a_user_in_two_files_of_a_day_keeps_the_first_copy(tmp_path: Path, fake: FakeGitHub, fast_path: bool) -> None:
    day = fake.enterprise.report_days()[3]
    first, second = file_lines(fake, USERS, day, 0), file_lines(fake, USERS, day, 1)
    original = json.loads(first[1])
    copy = {**original, "loc_added_sum": original["loc_added_sum"] + 1000, "totals_by_ide": []}
    fake.file_overrides[(USERS, day, 1)] = as_file([second[0], json.dumps(copy), *second[1:]])
    pipeline = make_pipeline(tmp_path)
    with dlt_warnings() as warnings:
        run(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)

    assert_one_row_per_key(pipeline, all_user_lines(fake))
    where = f"WHERE day = DATE '{day}' AND user_id = {original['user_id']}"
    assert rows(pipeline, f"SELECT loc_added_sum FROM users_1_day {where}") == [(original["loc_added_sum"],)]
    assert rows(pipeline, f"SELECT ide FROM users_1_day__totals_by_ide {where} ORDER BY list_index") == [
        (element["ide"],) for element in original["totals_by_ide"]
    ]
    assert sum(f"report for {day} holds 1 line(s)" in m for m in warnings) == 1


def test_a_reread_repairs_duplicates_an_older_version_loaded(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",))
    day = NEWEST - timedelta(days=1)  # inside the window the next run re-reads
    with pipeline.sql_client() as client:
        for table in ("users_1_day", "users_1_day__totals_by_ide"):
            client.execute_sql(f"INSERT INTO {table} SELECT * FROM {table} WHERE day = DATE '{day}'")
    served = len(report_lines(fake, USERS, day))
    assert scalar(pipeline, f"SELECT count(*) FROM users_1_day WHERE day = DATE '{day}'") == 2 * served

    run(pipeline, fake, resources=("users_1_day",))
    assert_one_row_per_key(pipeline, all_user_lines(fake))


# ---- the day asked for -----------------------------------------------------------------------


def test_an_answer_for_another_day_fails_the_run_and_moves_nothing(tmp_path: Path, fake: FakeGitHub) -> None:
    enterprise = fake.enterprise
    enterprise.newest_report_day = NEWEST - timedelta(days=2)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",))
    before, state_before = rows(pipeline, "SELECT count(*), max(day) FROM users_1_day"), source_state(pipeline)

    enterprise.newest_report_day = NEWEST
    day = NEWEST - timedelta(days=1)
    fake.report_day_overrides[(USERS, day)] = str(day - timedelta(days=1))
    error = expect_bad_data(pipeline, fake, resources=("users_1_day",))
    assert error.cause == (
        f"GitHub answered the users-1-day report for {day} with the report for {day - timedelta(days=1)} (its"
        " report_day)."
    )
    assert error.request_id and error.request_id.startswith("FAKE:")
    assert rows(pipeline, "SELECT count(*), max(day) FROM users_1_day") == before
    assert source_state(pipeline) == state_before

    fake.report_day_overrides.clear()
    run(pipeline, fake, resources=("users_1_day",))
    assert_one_row_per_key(pipeline, all_user_lines(fake))


@pytest.mark.parametrize(
    ("stray", "fast_path"),
    [("2099-01-01", True), ("2099-01-01", False), ("previous-day", True)],
    ids=["2099-arrow", "2099-python", "previous-day-arrow"],
)
def test_a_line_for_another_day_is_bad_data_naming_day_file_and_line(
    tmp_path: Path, fake: FakeGitHub, fast_path: bool, stray: str
) -> None:
    enterprise = fake.enterprise
    enterprise.newest_report_day = NEWEST - timedelta(days=2)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)
    state_before = source_state(pipeline)

    enterprise.newest_report_day = NEWEST
    day = NEWEST - timedelta(days=1)
    if stray == "previous-day":
        # GitHub serves the day before's file for this day: its first line says so
        fake.file_overrides[(USERS, day, 1)] = as_file(file_lines(fake, USERS, day - timedelta(days=1), 1))
        line, found = 1, str(day - timedelta(days=1))
    else:
        lines = file_lines(fake, USERS, day, 1)
        lines[2] = lines[2].replace(f'"day":"{day}"', f'"day":"{stray}"')
        fake.file_overrides[(USERS, day, 1)] = as_file(lines)
        line, found = 3, stray
    error = expect_bad_data(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)
    assert error.cause == (
        f"users-1-day report for {day}, file 2 of 2, line {line}: the line is for day {found}, not for {day},"
        " the day asked for."
    )
    assert source_state(pipeline) == state_before

    # GitHub corrects the file: the next run loads every day, and the record reaches the newest
    fake.file_overrides.clear()
    run(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)
    assert_one_row_per_key(pipeline, all_user_lines(fake))
    assert report_state(pipeline)["newest_day"] == str(NEWEST)


# ---- complete days only ----------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 9])
def test_a_partial_extract_then_a_normal_run_loads_every_table_of_every_day(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    # small chunks and batches: items of several days, days completed along the way
    monkeypatch.setattr(arrow_reports, "CHUNK_BYTES", 30_000)
    monkeypatch.setattr(batching, "MAX_BUFFERED_BYTES", 60_000)
    partial = make_pipeline(tmp_path, "partial")
    # no trailing window: the next run starts at the newest day recorded as complete
    partial.run(source_for(fake, lookback_days=0).with_resources("users_1_day").add_limit(limit))
    tables = set(partial.default_schema.data_table_names())
    lines = all_user_lines(fake)
    written = {
        b: scalar(partial, f"SELECT count(*) FROM users_1_day__{b}") if f"users_1_day__{b}" in tables else 0
        for b in BREAKDOWNS
    }
    # the partial run left tables (or days of tables) unwritten, and recorded only complete days
    assert any(written[b] < sum(len(line[b]) for line in lines) for b in BREAKDOWNS)
    resource = partial.state["sources"]["copilot"]["resources"]["users_1_day"]
    recorded = resource.get("entities", {}).get(f"enterprise:{fake.enterprise.slug}", {}).get("newest_day")
    if limit == 1:
        assert recorded is None
    else:
        assert recorded is not None and recorded < str(NEWEST)
    run(partial, fake, resources=("users_1_day",), lookback_days=0)

    clean = make_pipeline(tmp_path, "clean")
    run(clean, fake, resources=("users_1_day",), lookback_days=0)
    assert_same_data(partial, clean)
    assert_one_row_per_key(partial, lines)


@pytest.mark.parametrize("last_value", [NEWEST, date(2099, 1, 1)], ids=["cursor", "cursor-frozen-by-a-2099-line"])
def test_a_pipeline_of_an_older_version_continues_where_it_was(
    tmp_path: Path, fake: FakeGitHub, last_value: date
) -> None:
    pipeline = make_pipeline(tmp_path)
    with pytest.MonkeyPatch.context() as older:
        # what an older version wrote: tables merged with dlt's cdc, Arrow tables without load ids
        fit = destinations.fit_day_merge
        older.setattr(
            resources, "fit_day_merge", lambda fmt, column, first, last, day_keys: fit(fmt, column, first, last)
        )
        older.setattr(reader, "current_load_id", lambda: None)
        run(pipeline, fake, resources=("users_1_day",))
    assert "_dlt_load_id" not in {r[0] for r in rows(pipeline, "DESCRIBE users_1_day__totals_by_ide")}
    first = fake.enterprise.report_days()[0]
    hole = first + timedelta(days=1)
    # the state an older version kept: dlt's incremental cursor and the days beside it
    with pipeline.managed_state() as state:
        resource = state["sources"]["copilot"]["resources"]["users_1_day"]
        resource.clear()
        resource.update(
            {
                "incremental": {"day": {"initial_value": first, "last_value": last_value, "unique_hashes": []}},
                "first_day": str(first),
                "newest_day": str(NEWEST),
                "holes": [str(hole)],
            }
        )
    fake.enterprise.newest_report_day = NEWEST + timedelta(days=1)
    fake.clear_log()

    with dlt_warnings() as warnings:
        run(pipeline, fake, resources=("users_1_day",))
    assert warnings == []

    asked = sorted(s.query["day"] for s in fake.calls("api", f"/reports/{USERS}"))
    window = [str(NEWEST - timedelta(days=3) + timedelta(days=n)) for n in range((TODAY - NEWEST).days + 3)]
    assert asked == sorted([str(hole), *window])
    resource = pipeline.state["sources"]["copilot"]["resources"]["users_1_day"]
    assert sorted(resource) == ["entities"]
    assert report_state(pipeline) == {
        "first_day": str(first),
        "newest_day": str(NEWEST + timedelta(days=1)),
        "holes": [],
    }
    assert_one_row_per_key(pipeline, all_user_lines(fake))
    # rows of days the older version wrote and this run did not re-read have no load id
    reread = NEWEST - timedelta(days=3)
    for table in ("users_1_day", "users_1_day__totals_by_ide"):
        assert rows(
            pipeline, f"SELECT DISTINCT day >= '{reread}' OR day = '{hole}' FROM {table} WHERE _dlt_load_id IS NULL"
        ) == [(False,)]


# ---- GitHub's documented shapes --------------------------------------------------------------


def documented_wrappers(fake: FakeGitHub, day: date) -> list[dict[str, Any]]:
    """Two enterprise records of `day` in the shape GitHub's docs show for its reports (the
    example in ../shared/contract/report-examples.docs-verbatim.json, rebuilt here so the test needs
    nothing outside the repository): a wrapper with its own report window, text `enterprise_id` and
    partition fields around `day_totals[]`; in each day row fractional medians and CLI token usage."""
    wrappers = []
    for entity in ("1", "2"):
        row = json.loads(json.dumps(day_rows(fake, day)[0]))
        row["enterprise_id"] = entity
        row["pull_requests"] = {**row.get("pull_requests", {}), "median_minutes_to_merge": 2.5}
        row["totals_by_cli"] = {
            "prompt_count": 3,
            "request_count": 3,
            "session_count": 3,
            "token_usage": {"avg_tokens_per_request": 4100.0, "output_tokens_sum": 7000, "prompt_tokens_sum": 5300},
        }
        wrappers.append(
            {
                "day_totals": [row],
                "enterprise_id": entity,
                "report_end_day": str(day),
                "report_start_day": str(day - timedelta(days=27)),
                "etl_id": "green",
                "day_partition": str(day),
                "entity_id_partition": int(entity),
            }
        )
    return wrappers


def documented_user(fake: FakeGitHub, day: date) -> dict[str, Any]:
    """A users-1-day line in the docs' shape: the CLI's nested token usage and last known version."""
    line = dict(report_lines(fake, USERS, day)[0])
    line.update(user_id=99001, user_login="documented-user")
    line["totals_by_cli"] = {
        "last_known_cli_version": {"cli_version": "1.0.8", "sampled_at": f"{day}T00:01:43.000Z"},
        "prompt_count": 2,
        "request_count": 2,
        "session_count": 2,
        "token_usage": {"avg_tokens_per_request": 4400.0, "output_tokens_sum": 5000, "prompt_tokens_sum": 3800},
    }
    return line


@PATHS
def test_documented_wrapper_and_flat_records_load_every_row_together(
    tmp_path: Path, fake: FakeGitHub, fast_path: bool
) -> None:
    enterprise = fake.enterprise
    mixed_days = enterprise.report_days()[1::2]
    wrappers = {day: documented_wrappers(fake, day) for day in mixed_days}
    for day in mixed_days:
        flat = file_lines(fake, ENTERPRISE, day, 0)
        lines = [json.dumps(wrappers[day][0]), *flat, json.dumps(wrappers[day][1])]
        fake.file_overrides[(ENTERPRISE, day, 0)] = as_file(lines)
    user_day = mixed_days[0]
    user = documented_user(fake, user_day)
    users = file_lines(fake, USERS, user_day, 0)
    fake.file_overrides[(USERS, user_day, 0)] = as_file([*users, json.dumps(user)])
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("enterprise_metrics", "users_1_day"), fast_path=fast_path)

    served = []
    for day in enterprise.report_days():
        served.extend(day_rows(fake, day))
        if day in mixed_days:
            served.extend(row for wrapper in wrappers[day] for row in wrapper["day_totals"])
    got = rows(
        pipeline,
        "SELECT day, enterprise_id, daily_active_users, loc_added_sum FROM enterprise_metrics ORDER BY ALL",
    )
    expected = [
        (date.fromisoformat(r["day"]), r["enterprise_id"], r["daily_active_users"], r["loc_added_sum"]) for r in served
    ]
    assert got == sorted(expected)
    for breakdown in BREAKDOWNS:
        count = scalar(pipeline, f"SELECT count(*) FROM enterprise_metrics__{breakdown}")
        assert count == sum(len(r[breakdown]) for r in served), breakdown
    # the wrapper's own fields land on its day rows; the flat rows have none
    assert rows(
        pipeline, "SELECT enterprise_id, count(report_start_day) FROM enterprise_metrics GROUP BY 1 ORDER BY 1"
    )[:2] == [("1", len(mixed_days)), ("2", len(mixed_days))]
    assert scalar(pipeline, "SELECT sum(pull_requests__median_minutes_to_merge) FROM enterprise_metrics") == sum(
        r.get("pull_requests", {}).get("median_minutes_to_merge", 0) for r in served
    )
    # the documented user line, next to the fake's
    assert rows(
        pipeline,
        f"SELECT user_login, totals_by_cli__token_usage__avg_tokens_per_request FROM users_1_day"
        f" WHERE day = DATE '{user_day}' AND user_id = {user['user_id']}",
    ) == [(user.get("user_login"), user["totals_by_cli"]["token_usage"]["avg_tokens_per_request"])]
    assert scalar(pipeline, "SELECT count(*) FROM users_1_day") == len(all_user_lines(fake)) + 1


def test_a_first_run_finds_where_reports_begin_in_few_calls_and_keeps_the_hole(
    tmp_path: Path, fake: FakeGitHub
) -> None:
    # reports began ten days ago; a day in between is missing; the start date is a year back
    ent = fake.enterprise
    ent.first_report_day = NEWEST - timedelta(days=9)
    hole = NEWEST - timedelta(days=4)
    ent.unavailable_days = {hole}
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, ("enterprise_metrics", "users_1_day"), start_date=None)

    calls = {r: [s.query["day"] for s in fake.calls("api", f"/reports/{r}")] for r in REPORTS}
    # yesterday back to the first report, then a week without one: no day asked twice
    for report, days in calls.items():
        assert len(days) == len(set(days)), report
        # (up to three more days were already asked side by side when the seventh came back empty)
        gap_end = ent.first_report_day - timedelta(days=7)
        assert str(gap_end - timedelta(days=3)) <= min(days) <= str(gap_end), report
    assert sum(len(days) for days in calls.values()) <= 60
    served = [json.loads(x) for day in ent.report_days() for x in ent.report_lines("users-1-day", day)]
    assert rows(pipeline, "SELECT count(*) FROM users_1_day") == [(len(served),)]
    record = report_state(pipeline)
    assert (record["first_day"], record["holes"]) == (str(ent.first_report_day), [str(hole)])
