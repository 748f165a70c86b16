"""GitHub's rate-limit rules, end to end against the fake and on the limiter's own clock.

retry-after when present, else wait until x-ratelimit-reset when nothing remains, else back off
exponentially from `rate_limit_min_wait`; a 403 that is not a rate limit is never retried; a low
budget slows the run down; `rate_limit_max_wait` turns an endless wait into `rate_limited`.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dlt.common import logger as dlt_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from copilot_source import (
    CopilotSourceError,
    InvalidPermissions,
    MetricsDisabled,
    RateLimited,
    find_source_error,
)
from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub, Faults
from copilot_source.github.ratelimit import RateLimiter, RateLimitInfo, describe_resume
from copilot_source.ops.check import run_check
from tests.conftest import NEWEST, make_pipeline, report_lines, rows, run, small_enterprise
from tests.logs import dlt_warnings
from tests.scripts import check, fake_env, load

# the limiter runs on a fake clock here: examples are cheap
PACING = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    # then GitHub's own answer for that day (a first run asks from yesterday, which has none yet)
    assert [s.status for s in calls] == [429, 429, 403, 403, answer_for(fake, calls[0])]
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


def start(limiter: RateLimiter, clock: Clock) -> float:
    """Let one request through; the moment it leaves."""
    limiter.before_request()
    return clock.now


def test_pacing_takes_the_requests_in_flight_off_the_budget() -> None:
    clock = Clock()
    limiter = RateLimiter(max_wait=3600, min_wait=60, clock=clock.time, sleep=clock.sleep)
    reset = int(clock.now) + 2
    # four requests leave before any answer names the budget: GitHub has 5 left
    starts = [start(limiter, clock) for _ in range(4)]
    # the first answer: GitHub counted one request, three are still on their way
    limiter.observe(RateLimitInfo(limit=5000, remaining=4, reset=reset))
    starts += [start(limiter, clock) for _ in range(2)]
    # the fifth request is the last GitHub takes; the sixth waits for the reset (and a second)
    assert starts == [1_800_000_000.0] * 5 + [reset + 1.0]
    assert sum(moment < reset for moment in starts) == 5


def test_a_late_answer_with_more_left_was_already_counted() -> None:
    clock = Clock()
    limiter = RateLimiter(max_wait=3600, min_wait=60, clock=clock.time, sleep=clock.sleep)
    reset = int(clock.now) + 100
    limiter.observe(RateLimitInfo(limit=5000, remaining=6, reset=reset))
    for _ in range(4):
        limiter.before_request()
    # GitHub counted them in order (5, 4, 3, 2 left), the answers come back the other way round
    for remaining in (2, 3, 4, 5):
        limiter.observe(RateLimitInfo(limit=5000, remaining=remaining, reset=reset))
    # all four are in the count of 2: two more go before the reset, then the next one waits
    starts = [start(limiter, clock) for _ in range(3)]
    assert [moment < reset for moment in starts] == [True, True, False]
    assert starts[2] == reset + 1.0


def test_a_budget_taken_by_requests_under_way_is_low_not_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub's fourth answer comes back first: 1 of 5 left, but three answers are still under
    way and may have taken it. The next request waits for the reset, and the note says why."""
    # no pipeline here to set up dlt's logger
    monkeypatch.setattr(dlt_logger, "LOGGER", logging.getLogger("dlt"))
    clock = Clock()
    limiter = RateLimiter(max_wait=7200, min_wait=60, clock=clock.time, sleep=clock.sleep)
    reset = int(clock.now) + 2
    for _ in range(4):
        limiter.before_request()
    limiter.observe(RateLimitInfo(limit=5000, remaining=1, reset=reset))
    with dlt_warnings() as warnings:
        assert start(limiter, clock) == reset + 1.0
    assert warnings == [
        f"GitHub's rate-limit budget is low (1 of 5000 requests left until {clock_time(reset)} UTC, all taken"
        f" by requests already under way): slowing down, waiting 3s, resuming at {clock_time(reset + 1)} UTC."
    ]
    # GitHub itself saying 0 is a spent budget
    limiter.observe(RateLimitInfo(limit=5000, remaining=0, reset=reset + 3600))
    with dlt_warnings() as warnings:
        limiter.before_request()
    assert warnings == [
        f"GitHub's rate-limit budget is spent (0 of 5000 requests left): waiting 3600s, resuming at"
        f" {clock_time(reset + 3601)} UTC."
    ]


@PACING
@given(
    budget=st.integers(0, 12),
    workers=st.integers(1, 6),
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 50), st.booleans()), max_size=80),
)
def test_no_order_of_answers_lets_more_requests_through_than_github_takes(
    budget: int, workers: int, steps: list[tuple[bool, int, bool]]
) -> None:
    """Requests start while others are on their way; GitHub counts each as it arrives and the
    answers come back in any order, some without rate-limit headers. Before the reset, no
    more requests may leave than GitHub had left."""
    clock = Clock()
    limiter = RateLimiter(max_wait=7200, min_wait=60, clock=clock.time, sleep=clock.sleep)
    reset = int(clock.now) + 60
    # what an earlier answer said
    limiter.observe(RateLimitInfo(limit=5000, remaining=budget, reset=reset))
    counted = 0
    on_their_way: list[RateLimitInfo] = []
    for send, pick, headers in steps:
        if send and len(on_their_way) < workers:
            if start(limiter, clock) >= reset:
                break  # a new window: what matters happened before it
            counted += 1
            assert counted <= budget, "GitHub would have refused this request"
            left = RateLimitInfo(limit=5000, remaining=budget - counted, reset=reset)
            on_their_way.append(left if headers else RateLimitInfo())
        elif on_their_way:
            limiter.observe(on_their_way.pop(pick % len(on_their_way)))


# ---- rate-limit headers no GitHub would send ------------------------------------------------

ABSURD_WAITS = {
    "retry-after of 20 digits": {"retry-after": "99999999999999999999"},
    "retry-after of 5000 digits": {"retry-after": "9" * 5000},
    "retry-after in the year 9999": {"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"},
    "a reset in the year 3000": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "32503680000"},
    "a reset of 30 digits": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1" + "0" * 29},
}


@pytest.mark.parametrize("headers", list(ABSURD_WAITS.values()), ids=list(ABSURD_WAITS))
def test_an_absurd_wait_fails_at_once_with_one_clear_line(
    tmp_path: Path, fake: FakeGitHub, headers: dict[str, str]
) -> None:
    fake.faults.api_next = ["429-bare"]
    fake.rate_headers_next = [headers]
    pipeline = make_pipeline(tmp_path)
    with pytest.raises(Exception) as failure:
        run(pipeline, fake, resources=("users_1_day",), concurrency=1)

    error = failure_of(failure)
    assert isinstance(error, RateLimited)
    assert error.message.startswith("[rate_limited] GitHub rate-limited the users-1-day report for ")
    assert "requests could resume in more than a year, which no GitHub rate limit lasts" in error.message
    assert "past this run's ceiling of 3600s of waiting on rate limits (0s spent)" in error.message
    assert "\n" not in error.message
    assert error.request_id == "FAKE:000001"
    # no sleep, no second request
    assert [s.status for s in fake.calls("api")] == [429]


def test_load_py_reports_an_absurd_wait_in_one_line_without_a_traceback(isolated_dlt: Path, fake: FakeGitHub) -> None:
    fake.faults.api_next = ["429-bare"]
    fake.rate_headers_next = [ABSURD_WAITS["retry-after of 20 digits"]]
    result = load(isolated_dlt, fake_env(fake), "--resources", "seats")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: [rate_limited] GitHub rate-limited the enterprise's Copilot seats: ")
    assert "in more than a year" in lines[0]
    assert [s.status for s in fake.calls("api")] == [429]


def test_the_check_reports_an_absurd_wait_in_one_line_without_a_traceback(isolated_dlt: Path, fake: FakeGitHub) -> None:
    fake.faults.api_next = ["429-bare"]
    fake.rate_headers_next = [ABSURD_WAITS["retry-after of 20 digits"]]
    result = check(isolated_dlt, fake_env(fake))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    seats = next(line for line in result.stdout.splitlines() if line.startswith("seats "))
    assert re.match(r"seats +FAIL rate_limited: GitHub rate-limits the enterprise's Copilot seats right now:", seats)
    assert "the limit resets in more than a year, which no GitHub rate limit lasts" in seats
    assert [s.status for s in fake.calls("api")] == [429]


def test_the_check_shows_a_budget_with_an_absurd_reset(monkeypatch: pytest.MonkeyPatch, fake: FakeGitHub) -> None:
    # a successful answer whose reset is 10^30 seconds away
    fake.rate_headers_next = [{"x-ratelimit-reset": "1" + "0" * 30}]
    for name, value in fake_env(fake).items():
        monkeypatch.setenv(name, value)
    report = run_check()

    seats = next(result for result in report.results if result.name == "seats")
    assert seats.detail.endswith(
        "rate limit: 4999 of 5000 requests left until a time no clock shows (an absurd x-ratelimit-reset)"
    )


def answer_for(fake: FakeGitHub, call: Any) -> int:
    """What GitHub answers for the report day a call asked for: 200, or 404 without a report."""
    return 200 if date.fromisoformat(call.query["day"]) in fake.enterprise.report_days() else 404


GARBAGE = {
    "a negative retry-after": {"retry-after": "-5"},
    "retry-after in words": {"retry-after": "in a minute"},
    "a negative reset": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "-1700000000"},
    "a reset in words": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "soon"},
}


@pytest.mark.parametrize("headers", list(GARBAGE.values()), ids=list(GARBAGE))
def test_rate_limit_headers_that_are_not_numbers_are_treated_as_absent(
    tmp_path: Path, fake: FakeGitHub, headers: dict[str, str]
) -> None:
    fake.faults.api_next = ["429-bare"]
    fake.rate_headers_next = [headers]
    pipeline = make_pipeline(tmp_path)
    with dlt_warnings() as warnings:
        run(pipeline, fake, resources=("users_1_day",), concurrency=1, rate_limit_min_wait=1)

    # as if GitHub had said nothing: the first backoff, rate_limit_min_wait, then the same day again
    first, second = fake.calls("api")[:2]
    assert (first.status, second.status) == (429, answer_for(fake, first))
    assert first.query == second.query
    assert second.received_at - first.received_at >= 1.0
    waits = [WAIT_LOG.fullmatch(m) for m in warnings if m.startswith("Rate limited")]
    assert [w[2] for w in waits if w] == ["1"]
    assert all_users_loaded(pipeline, fake)


def test_a_budget_that_resets_beyond_githubs_window_does_not_pace() -> None:
    clock = Clock()
    limiter = RateLimiter(max_wait=3600, min_wait=60, clock=clock.time, sleep=clock.sleep)
    limiter.observe(RateLimitInfo(limit=5000, remaining=3, reset=32503680000))
    for _ in range(5):
        limiter.before_request()
    # three requests spread over a thousand years would hold the fourth back for centuries
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("wait", "said"),
    [
        (59.4, "at 08:00:59 UTC (in 59s)"),
        (2.5 * 86400, "at 2027-01-17 20:00:00 UTC (in 2.5 days)"),
        (400 * 86400, "in more than a year, which no GitHub rate limit lasts"),
        (1e12, "in more than a year, which no GitHub rate limit lasts"),
    ],
)
def test_when_requests_resume_is_said_in_words_for_any_wait(wait: float, said: str) -> None:
    now = datetime(2027, 1, 15, 8, 0, tzinfo=timezone.utc).timestamp()
    assert describe_resume(now + wait, now).startswith(said)
