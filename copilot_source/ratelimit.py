"""GitHub's rate limits: recognise them, wait the right time, slow down before hitting the wall."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from dlt.common import logger

from copilot_source.errors import RateLimited
from copilot_source.settings import DOCS

# below this share of the hourly budget, requests are spread evenly until the reset
LOW_BUDGET_SHARE = 0.02
LOW_BUDGET_MIN = 50


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class RateLimitInfo:
    """What GitHub's rate-limit headers say about one response."""

    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None
    retry_after: int | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitInfo:
        retry_after = _int_header(headers, "retry-after")
        return cls(
            limit=_int_header(headers, "x-ratelimit-limit"),
            remaining=_int_header(headers, "x-ratelimit-remaining"),
            reset=_int_header(headers, "x-ratelimit-reset"),
            retry_after=retry_after if retry_after is None or retry_after >= 0 else None,
        )


def is_rate_limited(status: int, info: RateLimitInfo, message: str = "") -> bool:
    """429 always; 403 only with an exhausted budget, a retry-after, or GitHub saying so."""
    if status == 429:
        return True
    if status != 403:
        return False
    return info.remaining == 0 or info.retry_after is not None or "rate limit" in message.lower()


def rate_limit_wait(info: RateLimitInfo, attempt: int, min_wait: float, now: float) -> float:
    """Seconds to wait: retry-after, else until the reset, else exponential backoff from min_wait."""
    if info.retry_after is not None:
        return float(info.retry_after)  # retry_after is an int by construction
    if info.remaining == 0 and info.reset is not None:
        return max(0.0, float(info.reset) - now) + 1.0
    return min_wait * 2.0**attempt


def _clock_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S UTC")


class RateLimiter:
    """Shared by all threads of one client: pauses everyone while GitHub asks us to wait."""

    def __init__(
        self,
        max_wait: float,
        min_wait: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_wait = max_wait
        self.min_wait = min_wait
        self.total_waited = 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._last = RateLimitInfo()
        self._slow_logged = False

    def _spend(self, seconds: float, reason: str) -> None:
        """Account for a wait and fail once the ceiling on waiting would be passed."""
        with self._lock:
            if self.total_waited + seconds > self.max_wait:
                resume = _clock_time(self._clock() + seconds)
                raise RateLimited(
                    f"GitHub rate-limited {reason}; the limit resets at {resume} (in {seconds:.0f}s),"
                    f" past this run's ceiling of {self.max_wait:.0f}s of waiting in total.",
                    "Run again after the limit resets, lower `concurrency`, or raise"
                    " `rate_limit_max_wait` under [sources.copilot].",
                    docs_url=DOCS["rate_limits"],
                )
            self.total_waited += seconds

    def before_request(self) -> None:
        """Wait out a pause, and pace requests when the hourly budget runs low."""
        now = self._clock()
        with self._lock:
            pause = self._paused_until - now
            info = self._last
        if pause > 0:
            self._sleep(pause)
            return
        if info.remaining is None or info.reset is None or info.limit is None:
            return
        threshold = max(LOW_BUDGET_MIN, int(info.limit * LOW_BUDGET_SHARE))
        until_reset = info.reset - now
        if info.remaining >= threshold or until_reset <= 0:
            return
        delay = until_reset / max(info.remaining, 1)
        if not self._slow_logged:
            self._slow_logged = True
            logger.warning(
                f"GitHub rate-limit budget is low ({info.remaining} of {info.limit} requests left"
                f" until {_clock_time(info.reset)}): slowing down to one request every {delay:.1f}s."
            )
        self._spend(delay, "pacing a low budget")
        self._sleep(delay)

    def observe(self, info: RateLimitInfo) -> None:
        if info.remaining is not None:
            with self._lock:
                self._last = info

    def on_rate_limited(self, info: RateLimitInfo, attempt: int, what: str) -> None:
        """Pause all requests for as long as GitHub asks, or raise `RateLimited` past the ceiling."""
        now = self._clock()
        wait = rate_limit_wait(info, attempt, self.min_wait, now)
        self._spend(wait, what)
        with self._lock:
            self._paused_until = max(self._paused_until, now + wait)
            resume = self._paused_until
        logger.warning(f"Rate limited by GitHub on {what}; waiting {wait:.0f}s, resuming at {_clock_time(resume)}.")
        self._sleep(max(0.0, resume - self._clock()))
