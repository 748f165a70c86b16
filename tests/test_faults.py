"""Flaky networks, server errors, rate limits, truncated files and expired links lose nothing.

Each test loads through a fake GitHub that injects faults and holds the result to what GitHub
served (or to a clean run's tables, row for row).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from copilot_source import Unreachable, find_source_error
from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub, Faults
from copilot_source.demo.fake_github.server import API_FAULTS, FILE_FAULTS
from tests.compare import all_tables, assert_same_data, source_state
from tests.conftest import (
    NEWEST,
    TODAY,
    TOKEN,
    days_between,
    make_pipeline,
    report_lines,
    rows,
    run,
    small_enterprise,
)
from tests.logs import dlt_warnings

# on top of one fault of each kind up front, this share of all requests fails with each kind
SHARE = 0.008
SEED = 5


@pytest.fixture
def enterprise() -> FakeEnterprise:
    """Six report days are enough here (conftest's `fake` serves this enterprise)."""
    return small_enterprise(first_report_day=NEWEST - timedelta(days=5))


@pytest.fixture
def fast_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests give up after a second; "timeout" and "stall" faults keep them waiting two."""
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "1")
    # faults come in runs here (several kinds queued for the same request): allow more attempts
    # than dlt's default 5
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "10")


def served_rows(fake: FakeGitHub, report: str, days: list) -> int:
    return sum(len(report_lines(fake, report, day)) for day in days)


def test_a_load_through_every_fault_equals_a_clean_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_timeouts: None
) -> None:
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "0.5")
    # two seat pages, three files per report day
    enterprise = small_enterprise(
        user_count=100,
        files_per_report=3,
        first_report_day=NEWEST - timedelta(days=6),
        newest_report_day=NEWEST - timedelta(days=2),
    )
    faulty = make_pipeline(tmp_path, "faulty")
    with FakeGitHub(enterprise, token=TOKEN, today=TODAY) as fake:
        fake.slow_seconds = 1.0
        fake.faults = Faults(
            api=dict.fromkeys(API_FAULTS, SHARE),
            files=dict.fromkeys(FILE_FAULTS, SHARE),
            seed=SEED,
            api_next=list(API_FAULTS),
            files_next=list(FILE_FAULTS),
        )
        run(faulty, fake)
        enterprise.revisions[NEWEST - timedelta(days=3)] = 2
        enterprise.newest_report_day = NEWEST
        run(faulty, fake)
        injected = {host: Counter(s.fault for s in fake.calls(host) if s.fault) for host in ("api", "files")}
        assert len(fake.calls("api", "/billing/seats")) > 2

    # the test means something only if every kind of fault really happened
    assert set(injected["api"]) == set(API_FAULTS), injected
    assert set(injected["files"]) == set(FILE_FAULTS), injected
    # a clean run over what GitHub has now: the same tables, rows and cursors
    clean = make_pipeline(tmp_path, "clean")
    with FakeGitHub(enterprise, token=TOKEN, today=TODAY) as fake:
        run(clean, fake)
    assert_same_data(faulty, clean)


def test_server_errors_resets_and_timeouts_are_retried_everywhere(
    tmp_path: Path, fake: FakeGitHub, fast_timeouts: None
) -> None:
    fake.faults.api_next = ["500", "502", "503", "reset", "timeout"]
    fake.faults.files_next = ["500", "502", "503", "reset", "timeout", "stall"]
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",), concurrency=1)

    days = fake.enterprise.report_days()
    assert rows(pipeline, "SELECT count(*) FROM users_1_day") == [(served_rows(fake, "users-1-day", days),)]
    api = fake.calls("api", "/reports/users-1-day")
    files = fake.calls("files")
    # every failed request was repeated, and only those
    assert [s.fault for s in api[:5]] == ["500", "502", "503", "reset", "timeout"]
    assert len({s.query["day"] for s in api[:6]}) == 1
    asked_days = days_between(days[0], TODAY - timedelta(days=1))  # the last ones answer 404
    assert len(api) == len(asked_days) + 5
    assert [s.fault for s in files[:6]] == ["500", "502", "503", "reset", "timeout", "stall"]
    assert len({s.path for s in files[:7]}) == 1
    assert len(files) == 2 * len(days) + 6
    assert {s.status for s in files[6:]} == {200}


@pytest.mark.parametrize(
    ("kind", "encoding"),
    [("truncate", "none"), ("truncate", "gzip-header"), ("truncate-clean", "none"), ("truncate-clean", "gzip-body")],
)
def test_a_truncated_file_is_downloaded_again(tmp_path: Path, fake: FakeGitHub, kind: str, encoding: str) -> None:
    fake.file_encoding = encoding
    fake.faults.files_next = [kind]
    pipeline = make_pipeline(tmp_path)
    with dlt_warnings() as warnings:
        run(pipeline, fake, resources=("users_1_day",), concurrency=1)

    first_day = fake.enterprise.report_days()[0]
    lines = report_lines(fake, "users-1-day", first_day)
    got = rows(pipeline, f"SELECT count(*), sum(loc_added_sum) FROM users_1_day WHERE day = DATE '{first_day}'")
    assert got == [(len(lines), sum(line["loc_added_sum"] for line in lines))]
    files = fake.calls("files")
    assert [s.fault for s in files[:2]] == [kind, None]
    assert files[0].path == files[1].path
    retried = [m for m in warnings if m.startswith(f"Downloading users-1-day report for {first_day}, file 1 of 2")]
    assert len(retried) == 1 and retried[0].endswith("; retrying."), warnings
    # the signed link is a credential: never logged whole
    assert not any("sig=" in message for message in warnings)


def test_an_expired_link_gets_fresh_links_and_the_whole_day_again(tmp_path: Path, fake: FakeGitHub) -> None:
    day = fake.enterprise.report_days()[0]
    fake.faults.files_next = [None, "expire"]  # the day's second file
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",), concurrency=1)

    asked = [s.query["day"] for s in fake.calls("api", "/reports/users-1-day")]
    assert asked.count(str(day)) == 2
    files = [(s.path, s.status) for s in fake.calls("files", f"/{day}/")]
    first, second = f"/files/users-1-day/{day}/0.ndjson", f"/files/users-1-day/{day}/1.ndjson"
    # both files again with the fresh links: a day never mixes files of two link sets
    assert files == [(first, 200), (second, 403), (first, 200), (second, 200)]
    assert {s.authorization for s in fake.calls("files")} == {None}
    assert rows(pipeline, f"SELECT count(*) FROM users_1_day WHERE day = DATE '{day}'") == [
        (served_rows(fake, "users-1-day", [day]),)
    ]


def test_a_day_whose_second_file_never_arrives_loads_nothing_of_that_run(tmp_path: Path, fake: FakeGitHub) -> None:
    enterprise = fake.enterprise
    enterprise.newest_report_day = NEWEST - timedelta(days=2)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",))
    before = all_tables(pipeline)
    state_before = source_state(pipeline)

    # GitHub corrects a day and publishes a new one, whose second file the file host never serves
    enterprise.revisions[NEWEST - timedelta(days=3)] = 4
    enterprise.newest_report_day = NEWEST
    fake.file_overrides[("users-1-day", NEWEST - timedelta(days=1), 1)] = 503
    with pytest.raises(Exception) as failure:
        run(pipeline, fake, resources=("users_1_day",), concurrency=1)
    error = find_source_error(failure.value)
    assert isinstance(error, Unreachable)
    assert f"users-1-day report for {NEWEST - timedelta(days=1)}, file 2 of 2" in error.message

    # nothing of the failed run: not the new day's first file, not the corrected day
    assert all_tables(pipeline) == before
    assert source_state(pipeline) == state_before

    fake.file_overrides.clear()
    run(pipeline, fake, resources=("users_1_day",))
    days = enterprise.report_days()
    assert rows(pipeline, "SELECT count(*) FROM users_1_day") == [(served_rows(fake, "users-1-day", days),)]
    assert rows(pipeline, "SELECT max(day) FROM users_1_day") == [(NEWEST,)]
