"""GitHub's rate-limit rules, end to end against the fake and on the limiter's own clock.

retry-after when present, else wait until x-ratelimit-reset when nothing remains, else back off
exponentially from `rate_limit_min_wait`; a 403 that is not a rate limit is never retried; a low
budget slows the run down; `rate_limit_max_wait` turns an endless wait into `rate_limited`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import duckdb
import pytest

from copilot_source import (
    CopilotSourceError,
    InvalidPermissions,
    MetricsDisabled,
    RateLimited,
    find_source_error,
)
from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub, Faults
from copilot_source.github.ratelimit import RateLimiter, RateLimitInfo
from tests.conftest import NEWEST, make_pipeline, report_lines, rows, run, small_enterprise
from tests.logs import dlt_warnings

WAIT_LOG = re.compile(r"Rate limited by GitHub on (.+); waiting (\d+)s, resuming at (\d\d:\d\d:\d\d) UTC\.")


@pytest.fixture
def enterprise() -> FakeEnterprise:
    """Six report days are enough here (conftest's `fake` serves this enterprise)."""
    return small_enterprise(first_report_day=NEWEST - timedelta(days=5))


def clock_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S")


def failure_of(pipeline_run: pytest.ExceptionInfo[BaseException]) -> CopilotSourceError:
    error = find_source_error(pipeline_run.value)
    assert error is not None, pipeline_run.value
    return error


def all_users_loaded(pipeline: object, fake: FakeGitHub) -> bool:
    expected = sum(len(report_lines(fake, "users-1-day", d)) for d in fake.enterprise.report_days())
    return rows(pipeline, "SELECT count(*) FROM users_1_day") == [(expected,)]  # type: ignore[arg-type]


def test_each_kind_of_rate_limit_waits_what_githubs_rules_say_then_retries(tmp_path: Path, fake: FakeGitHub) -> None:
    fake.faults.api_next = ["429-bare", "429", "403-secondary", "403-primary"]
    pipeline = make_pipeline(tmp_path)
    with dlt_warnings() as warnings:
        run(pipeline, fake, resources=("users_1_day",), concurrency=1, rate_limit_min_wait=1)

    calls = fake.calls("api")[:5]
    assert [s.status for s in calls] == [429, 429, 403, 403, 200]
    assert len({s.query["day"] for s in calls}) == 1
    gaps = [later.received_at - earlier.received_at for earlier, later in pairwise(calls)]
    # a 429 that says nothing: the first backoff, rate_limit_min_wait
    assert gaps[0] >= 1.0
    # 429 and the secondary limit: retry-after: 1
    assert gaps[1] >= 1.0 and gaps[2] >= 1.0
    # the primary limit: remaining 0, so until the reset the fake announced (the next whole second)
    assert calls[4].received_at >= int(calls[3].received_at) + 1

    waits = [WAIT_LOG.fullmatch(m) for m in warnings if m.startswith("Rate limited")]
    assert all(waits) and len(waits) == 4
    day = calls[0].query["day"]
    assert {w[1] for w in waits if w} == {f"the users-1-day report for {day}"}
    assert [w[2] for w in waits if w][:3] == ["1", "1", "1"]
    # each wait says when the run resumes: after the primary limit, a second after the reset
    primary = waits[3]
    assert primary is not None
    assert primary[3] in {clock_time(int(calls[3].received_at) + n) for n in (2, 3)}
    assert all_users_loaded(pipeline, fake)


@pytest.mark.parametrize(
    ("resource", "setup", "error"),
    [
        ("seats", {"scopes": "repo, read:org"}, InvalidPermissions),
        ("users_1_day", {"metrics_enabled": False}, MetricsDisabled),
    ],
)
def test_a_403_that_is_not_a_rate_limit_is_not_retried(
    tmp_path: Path,
    fake: FakeGitHub,
    resource: str,
    setup: dict[str, object],
    error: type[CopilotSourceError],
) -> None:
    for name, value in setup.items():
        setattr(fake, name, value)
    pipeline = make_pipeline(tmp_path)
    with dlt_warnings() as warnings, pytest.raises(Exception) as failure:
        run(pipeline, fake, resources=(resource,), concurrency=1)

    assert isinstance(failure_of(failure), error)
    assert [s.status for s in fake.calls("api")] == [403]
    assert not [m for m in warnings if m.startswith("Rate limited")]


def test_a_low_budget_slows_the_run_down_instead_of_hitting_the_wall(tmp_path: Path, fake: FakeGitHub) -> None:
    # fewer requests left than the run needs, and the budget resets in two seconds
    fake.set_rate_budget(remaining=5, reset_in=2)
    pipeline = make_pipeline(tmp_path)
    with dlt_warnings() as warnings:
        run(pipeline, fake, resources=("users_1_day",))

    api = fake.calls("api")
    assert len(api) > 5
    # paced, then waiting for the reset: GitHub never had to refuse a request
    assert {s.status for s in api} <= {200, 404}
    assert any(m.startswith("GitHub's rate-limit budget is low (") and "slowing down" in m for m in warnings)
    assert all_users_loaded(pipeline, fake)


def test_the_ceiling_turns_an_endless_rate_limit_into_a_clear_failure(tmp_path: Path, fake: FakeGitHub) -> None:
    fake.faults = Faults(api={"429": 1.0})  # every request, forever
    pipeline = make_pipeline(tmp_path)
    with pytest.raises(Exception) as failure:
        run(pipeline, fake, resources=("users_1_day",), concurrency=1, rate_limit_max_wait=1)

    error = failure_of(failure)
    assert isinstance(error, RateLimited)
    assert error.code == "rate_limited"
    assert "ceiling of 1s of waiting on rate limits (1s spent)" in error.message
    assert "`rate_limit_max_wait`" in error.message
    # waited 1 s once; a second wait would have passed the ceiling
    assert [s.status for s in fake.calls("api")] == [429, 429]
    # nothing was loaded, nothing waits to be
    assert not pipeline.list_normalized_load_packages()
    with duckdb.connect(str(tmp_path / "copilot_test.duckdb"), read_only=True) as db:
        tables = db.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert ("users_1_day",) not in tables


def test_a_reset_beyond_the_ceiling_fails_at_once_and_says_when(tmp_path: Path, fake: FakeGitHub) -> None:
    fake.set_rate_budget(remaining=0, reset_in=3600)
    pipeline = make_pipeline(tmp_path)
    with pytest.raises(Exception) as failure:
        run(pipeline, fake, resources=("users_1_day",), concurrency=1, rate_limit_max_wait=600)

    error = failure_of(failure)
    assert isinstance(error, RateLimited)
    assert f"resume at {clock_time(fake.rate_reset_at + 1)} UTC" in error.message
    assert "ceiling of 600s" in error.message
    assert [s.status for s in fake.calls("api")] == [403]


class Clock:
    """The limiter's clock and sleep, advanced by the sleeps it asks for."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_backoff_doubles_from_the_minimum_when_github_gives_no_wait() -> None:
    clock = Clock()
    limiter = RateLimiter(max_wait=3600, min_wait=60, clock=clock.time, sleep=clock.sleep)
    for attempt in range(3):
        limiter.on_rate_limited(RateLimitInfo(limit=5000, remaining=10, reset=int(clock.now) + 900), attempt, "x")
    assert clock.sleeps == [60, 120, 240]
    assert limiter.total_waited == 420


def test_threads_waiting_for_the_same_pause_count_it_once() -> None:
    clock = Clock()
    limiter = RateLimiter(max_wait=100, min_wait=60, clock=clock.time, sleep=lambda _: None)
    # four threads hit the same 90 s secondary limit at once: 90 s of waiting, not 360
    for _ in range(4):
        limiter.on_rate_limited(RateLimitInfo(retry_after=90), 0, "x")
    assert limiter.total_waited == 90
    with pytest.raises(RateLimited):
        clock.now += 90
        limiter.on_rate_limited(RateLimitInfo(retry_after=30), 0, "x")


def test_pacing_spreads_the_remaining_budget_until_the_reset() -> None:
    clock = Clock()
    limiter = RateLimiter(max_wait=3600, min_wait=60, clock=clock.time, sleep=clock.sleep)
    limiter.observe(RateLimitInfo(limit=5000, remaining=10, reset=int(clock.now) + 100))
    # a late answer from the same window does not raise the budget again
    limiter.observe(RateLimitInfo(limit=5000, remaining=40, reset=int(clock.now) + 100))
    for _ in range(3):
        limiter.before_request()
    assert clock.sleeps == [10.0, 10.0]  # the first goes at once, then one every 100 s / 10
    limiter.observe(RateLimitInfo(limit=5000, remaining=0, reset=int(clock.now) + 30))
    limiter.before_request()
    assert clock.sleeps[-1] == 31.0  # nothing left: wait for the reset, plus a second
