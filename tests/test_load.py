"""The source end to end: real pipelines into DuckDB against the fake GitHub."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.demo.fake_github.data import BREAKDOWNS
from tests.conftest import (
    NEWEST,
    TODAY,
    day_rows,
    days_between,
    make_pipeline,
    report_lines,
    report_state,
    rows,
    run,
    scalar,
    small_enterprise,
)


def user_lines(fake: FakeGitHub, days: list) -> list[dict]:
    return [line for day in days for line in report_lines(fake, "users-1-day", day)]


def test_first_run_loads_every_available_day_exactly(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    days = fake.enterprise.report_days()
    lines = user_lines(fake, days)

    assert scalar(pipeline, "SELECT count(*) FROM users_1_day") == len(lines)
    assert scalar(pipeline, "SELECT sum(code_generation_activity_count) FROM users_1_day") == sum(
        line["code_generation_activity_count"] for line in lines
    )
    assert scalar(pipeline, "SELECT sum(loc_added_sum) FROM users_1_day") == sum(row["loc_added_sum"] for row in lines)
    for breakdown in BREAKDOWNS:
        table = f"users_1_day__{breakdown}"
        expected = [el for line in lines for el in line[breakdown]]
        assert scalar(pipeline, f"SELECT count(*) FROM {table}") == len(expected), table
        assert scalar(pipeline, f"SELECT sum(loc_added_sum) FROM {table}") == sum(
            el["loc_added_sum"] for el in expected
        ), table
    # the CLI totals (nested objects) land as columns
    cli = [line["totals_by_cli"] for line in lines if "totals_by_cli" in line]
    assert scalar(pipeline, "SELECT sum(totals_by_cli__token_usage__output_tokens_sum) FROM users_1_day") == sum(
        c["token_usage"]["output_tokens_sum"] for c in cli
    )

    enterprise_days = [row for day in days for row in day_rows(fake, day)]
    assert scalar(pipeline, "SELECT count(*) FROM enterprise_metrics") == len(days)
    assert scalar(pipeline, "SELECT sum(daily_active_users) FROM enterprise_metrics") == sum(
        d["daily_active_users"] for d in enterprise_days
    )
    assert scalar(pipeline, "SELECT sum(loc_added_sum) FROM enterprise_metrics__totals_by_ide") == sum(
        el["loc_added_sum"] for d in enterprise_days for el in d["totals_by_ide"]
    )
    assert scalar(
        pipeline,
        "SELECT count(*) FROM enterprise_metrics__pull_requests__copilot_suggestions_by_comment_type",
    ) == sum(len(d["pull_requests"]["copilot_suggestions_by_comment_type"]) for d in enterprise_days)

    seats = fake.enterprise.seats(TODAY)
    assert scalar(pipeline, "SELECT count(*) FROM seats") == len(seats)
    assert scalar(pipeline, "SELECT count(DISTINCT seat_key) FROM seats") == len(seats)
    # people with a seat from two organizations appear twice
    people = {s["assignee"]["id"] for s in seats}
    assert len(people) < len(seats)
    assert scalar(pipeline, "SELECT count(DISTINCT assignee__id) FROM seats") == len(people)
    assert rows(pipeline, "SELECT snapshot_day, count(*) FROM seat_activity GROUP BY 1") == [(TODAY, len(seats))]


def test_columns_have_the_types_github_sends(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)

    def types(table: str) -> dict[str, str]:
        return {r[0]: r[1] for r in rows(pipeline, f"DESCRIBE {table}")}

    users = types("users_1_day")
    assert users["day"] == "DATE"
    assert users["enterprise_id"] == "VARCHAR"
    assert users["user_id"] == "BIGINT"
    assert users["used_chat"] == "BOOLEAN"
    assert users["totals_by_cli__token_usage__avg_tokens_per_request"] == "DOUBLE"
    assert users["totals_by_cli__last_known_cli_version__sampled_at"] == "TIMESTAMP WITH TIME ZONE"
    ide = types("users_1_day__totals_by_ide")
    for column, kind in {
        "day": "DATE",
        "enterprise_id": "VARCHAR",
        "user_id": "BIGINT",
        "list_index": "BIGINT",
        "ide": "VARCHAR",
        "last_known_ide_version__sampled_at": "TIMESTAMP WITH TIME ZONE",
    }.items():
        assert ide[column] == kind, column
    assert types("enterprise_metrics")["day"] == "DATE"
    seats = types("seats")
    assert seats["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert "last_activity_at" not in seats  # activity lives in seat_activity
    assert types("seat_activity")["last_activity_at"] == "TIMESTAMP WITH TIME ZONE"


def test_breakdown_rows_join_their_user_day_in_order(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",))
    day = NEWEST - timedelta(days=1)
    line = report_lines(fake, "users-1-day", day)[3]
    got = rows(
        pipeline,
        "SELECT list_index, language, feature, loc_added_sum FROM users_1_day__totals_by_language_feature"
        f" WHERE day = DATE '{day}' AND user_id = {line['user_id']} ORDER BY list_index",
    )
    assert got == [
        (i, el["language"], el["feature"], el["loc_added_sum"])
        for i, el in enumerate(line["totals_by_language_feature"])
    ]


def test_second_run_with_nothing_new_makes_only_the_necessary_calls(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    counts = {t: scalar(pipeline, f"SELECT count(*) FROM {t}") for t in ("users_1_day", "enterprise_metrics", "seats")}
    fake.clear_log()

    run(pipeline, fake)

    # the lookback window (3 days back from the newest loaded day) up to yesterday, per report
    window = {str(d) for d in days_between(NEWEST - timedelta(days=3), TODAY - timedelta(days=1))}
    for report in ("users-1-day", "enterprise-1-day"):
        asked = sorted(s.query["day"] for s in fake.calls("api", f"/reports/{report}"))
        assert asked == sorted(window), report
    assert len(fake.calls("api", "/billing/seats")) == 1
    for table, count in counts.items():
        assert scalar(pipeline, f"SELECT count(*) FROM {table}") == count, table
    assert (
        scalar(pipeline, "SELECT count(*) FROM (SELECT DISTINCT day, user_id FROM users_1_day)")
        == counts["users_1_day"]
    )


def test_lookback_rereads_exactly_the_trailing_days(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    inside, outside = NEWEST - timedelta(days=1), NEWEST - timedelta(days=6)
    before_outside = user_lines(fake, [outside])
    # GitHub corrects both days after the first load; only the trailing one is re-read
    fake.enterprise.revisions.update({inside: 1, outside: 1})
    run(pipeline, fake)

    def loc(day: object) -> int:
        return int(scalar(pipeline, f"SELECT sum(loc_added_sum) FROM users_1_day WHERE day = DATE '{day}'"))

    assert loc(inside) == sum(row["loc_added_sum"] for row in user_lines(fake, [inside]))
    assert loc(outside) == sum(row["loc_added_sum"] for row in before_outside)
    assert sum(row["loc_added_sum"] for row in before_outside) != sum(
        row["loc_added_sum"] for row in user_lines(fake, [outside])
    )


def test_a_reread_day_replaces_its_breakdown_rows(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    day = NEWEST - timedelta(days=2)
    fake.enterprise.revisions[day] = 7  # different lengths of every array for that day
    run(pipeline, fake)
    lines = user_lines(fake, [day])
    for breakdown in BREAKDOWNS:
        got = scalar(pipeline, f"SELECT count(*) FROM users_1_day__{breakdown} WHERE day = DATE '{day}'")
        assert got == sum(len(line[breakdown]) for line in lines), breakdown
    total = len(user_lines(fake, fake.enterprise.report_days()))
    assert scalar(pipeline, "SELECT count(*) FROM users_1_day") == total


def test_unavailable_days_are_reported_and_loaded_later(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    info = run(pipeline, fake)
    extract = pipeline.last_trace.last_extract_info
    assert extract is not None
    metrics = extract.metrics
    custom = next(iter(metrics.values()))[0]["resource_metrics"]["users_1_day"].custom_metrics
    assert custom["days_not_yet_available"] == f"{NEWEST + timedelta(days=1)}..{TODAY - timedelta(days=1)}"
    assert info.has_failed_jobs is False

    fake.enterprise.newest_report_day = NEWEST + timedelta(days=1)
    run(pipeline, fake)
    new_day = NEWEST + timedelta(days=1)
    assert scalar(pipeline, f"SELECT count(*) FROM users_1_day WHERE day = DATE '{new_day}'") == len(
        user_lines(fake, [new_day])
    )


def test_a_hole_in_the_middle_is_retried_until_github_has_it(tmp_path: Path, fake: FakeGitHub) -> None:
    hole = NEWEST - timedelta(days=7)  # older than the lookback window of later runs
    fake.enterprise.unavailable_days.add(hole)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    assert scalar(pipeline, f"SELECT count(*) FROM users_1_day WHERE day = DATE '{hole}'") == 0
    assert report_state(pipeline)["holes"] == [str(hole)]

    run(pipeline, fake)  # still missing: asked again, still remembered
    assert report_state(pipeline)["holes"] == [str(hole)]

    fake.enterprise.unavailable_days.clear()
    fake.clear_log()
    run(pipeline, fake)
    asked = {s.query["day"] for s in fake.calls("api", "/reports/users-1-day")}
    assert str(hole) in asked
    assert scalar(pipeline, f"SELECT count(*) FROM users_1_day WHERE day = DATE '{hole}'") == len(
        user_lines(fake, [hole])
    )
    assert report_state(pipeline)["holes"] == []
    # the newest day never went backwards
    assert report_state(pipeline)["newest_day"] == str(NEWEST)


def test_a_renamed_login_updates_in_place_without_duplicates(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    day = NEWEST - timedelta(days=1)
    user = report_lines(fake, "users-1-day", day)[0]["user_id"]
    fake.enterprise.renamed_logins[user] = (day, "renamed-person")
    run(pipeline, fake)
    got = rows(pipeline, f"SELECT day, user_login FROM users_1_day WHERE user_id = {user} ORDER BY day")
    active_days = [d for d in fake.enterprise.report_days() if fake.enterprise.is_active(user, d)]
    assert [r[0] for r in got] == active_days
    assert dict(got)[day] == "renamed-person"
    older = [login for d, login in got if d < day]
    assert older and set(older) == {fake.enterprise.login(user, fake.enterprise.first_report_day)}


def test_seat_history_records_changes_and_removals(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("seats", "seat_activity"))
    seats = fake.enterprise.seats(TODAY)
    keys = [
        f"{s['assignee']['id']}:{s['organization']['id']}:{(s['assigning_team'] or {}).get('id', '')}" for s in seats
    ]
    removed, changed = keys[1], keys[2]
    fake.enterprise.removed_seats.add(removed)
    old_plan = seats[2]["plan_type"]
    fake.enterprise.plan_changes[changed] = "enterprise" if old_plan == "business" else "business"

    run(pipeline, fake, resources=("seats", "seat_activity"))

    history = rows(
        pipeline,
        "SELECT seat_key, plan_type, _dlt_valid_to IS NULL FROM seats ORDER BY seat_key, _dlt_valid_from",
    )
    by_key: dict[str, list[tuple[str, bool]]] = {}
    for key, plan, active in history:
        by_key.setdefault(key, []).append((plan, active))
    assert by_key[removed] == [(seats[1]["plan_type"], False)]
    assert by_key[changed] == [(old_plan, False), (fake.enterprise.plan_changes[changed], True)]
    unchanged = [k for k in keys if k not in (removed, changed)]
    assert all(by_key[k] == [(by_key[k][0][0], True)] for k in unchanged)
    # a second snapshot on the same day replaces that day's activity rows
    assert rows(pipeline, "SELECT count(*), count(DISTINCT seat_key) FROM seat_activity") == [
        (len(keys) - 1, len(keys) - 1)
    ]


def test_the_token_never_reaches_the_download_host(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    files = fake.calls("files")
    api = fake.calls("api")
    assert files and api
    assert {s.authorization for s in files} == {None}
    assert {s.authorization for s in api} == {f"Bearer {fake.token}"}


def test_a_new_report_field_lands_as_a_column(tmp_path: Path, fake: FakeGitHub) -> None:
    since = NEWEST - timedelta(days=2)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    fake.enterprise.new_fields_from.update({"ai_credits_used": since, "used_copilot_cloud_agent": since})
    run(pipeline, fake)
    lines = user_lines(fake, days_between(since, NEWEST))
    assert scalar(pipeline, "SELECT count(ai_credits_used) FROM users_1_day") == len(lines)
    assert scalar(pipeline, "SELECT sum(ai_credits_used) FROM users_1_day") == pytest.approx(
        sum(line["ai_credits_used"] for line in lines)
    )
    assert scalar(pipeline, "SELECT count(*) FROM users_1_day WHERE used_copilot_cloud_agent") == sum(
        1 for line in lines if line["used_copilot_cloud_agent"]
    )
    assert scalar(pipeline, "SELECT count(ai_credits_used) FROM enterprise_metrics") == 3


@pytest.mark.parametrize("shape", ["bare", "wrapper"])
def test_both_enterprise_file_shapes_load_the_same_rows(tmp_path: Path, fake: FakeGitHub, shape: str) -> None:
    fake.enterprise.enterprise_report_shape = shape
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("enterprise_metrics",))
    days = fake.enterprise.report_days()
    got = rows(pipeline, "SELECT day, daily_active_users, weekly_active_users FROM enterprise_metrics ORDER BY day")
    assert got == [(d, r["daily_active_users"], r["weekly_active_users"]) for d in days for r in day_rows(fake, d)]
    if shape == "wrapper":
        assert scalar(pipeline, "SELECT count(report_start_day) FROM enterprise_metrics") == len(days)


@pytest.mark.parametrize("encoding", ["gzip-header", "gzip-body"])
def test_compressed_report_files_load_like_plain_ones(tmp_path: Path, fake: FakeGitHub, encoding: str) -> None:
    fake.file_encoding = encoding
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",))
    lines = user_lines(fake, fake.enterprise.report_days())
    assert rows(pipeline, "SELECT count(*), sum(loc_deleted_sum) FROM users_1_day") == [
        (len(lines), sum(row["loc_deleted_sum"] for row in lines))
    ]


def test_a_backfill_reloads_a_range_and_leaves_the_cursor_alone(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    record_before = report_state(pipeline)
    first = fake.enterprise.first_report_day
    backfilled = days_between(first + timedelta(days=1), first + timedelta(days=2))
    untouched = first + timedelta(days=3)
    before_untouched = user_lines(fake, [untouched])
    for day in [*backfilled, untouched]:
        fake.enterprise.revisions[day] = 3
    fake.clear_log()

    run(pipeline, fake, resources=("users_1_day",), start_date=backfilled[0], end_date=backfilled[-1])

    asked = sorted(s.query["day"] for s in fake.calls("api", "/reports/users-1-day"))
    assert asked == [str(d) for d in backfilled]
    for day in backfilled:
        assert scalar(pipeline, f"SELECT sum(loc_added_sum) FROM users_1_day WHERE day = DATE '{day}'") == sum(
            row["loc_added_sum"] for row in user_lines(fake, [day])
        )
    assert scalar(pipeline, f"SELECT sum(loc_added_sum) FROM users_1_day WHERE day = DATE '{untouched}'") == sum(
        row["loc_added_sum"] for row in before_untouched
    )
    assert report_state(pipeline) == record_before
    assert record_before["newest_day"] == str(NEWEST)


def test_every_seat_page_is_read_once(tmp_path: Path) -> None:
    enterprise = small_enterprise(user_count=230)
    with FakeGitHub(enterprise, today=TODAY) as fake:
        pipeline = make_pipeline(tmp_path)
        run(pipeline, fake, resources=("seats", "seat_activity"))
        seats = enterprise.seats(TODAY)
        pages = -(-len(seats) // 100)
        assert pages == 3
        asked = sorted(int(s.query["page"]) for s in fake.calls("api", "/billing/seats"))
        assert asked == [1, 2, 3]
        assert {s.query["per_page"] for s in fake.calls("api", "/billing/seats")} == {"100"}
    assert scalar(pipeline, "SELECT count(*) FROM seats") == len(seats)
    assert scalar(pipeline, "SELECT count(DISTINCT seat_key) FROM seat_activity") == len(seats)
    assert scalar(pipeline, "SELECT sum(assignee__id) FROM seats") == sum(s["assignee"]["id"] for s in seats)


def test_downloads_live_in_the_pipeline_folder_and_a_killed_runs_files_are_cleared(
    tmp_path: Path, fake: FakeGitHub
) -> None:
    pipeline = make_pipeline(tmp_path)
    left_behind = Path(pipeline.working_dir) / "copilot_downloads" / "users_1_day" / "users-1-day-2026-01-01-0.ndjson"
    left_behind.parent.mkdir(parents=True)
    left_behind.write_text('{"partial": ')  # what a killed run leaves

    run(pipeline, fake, resources=("users_1_day",))

    assert not left_behind.exists()
    assert list((Path(pipeline.working_dir) / "copilot_downloads").rglob("*.ndjson")) == []
    assert scalar(pipeline, "SELECT count(*) FROM users_1_day") == len(user_lines(fake, fake.enterprise.report_days()))
