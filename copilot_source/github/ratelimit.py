"""GitHub's rate limits: recognise them, wait the right time, slow down before hitting the wall.

GitHub's rules: a rate-limited request answers 403 or 429. Wait `retry-after` seconds when it is
there; else, when `x-ratelimit-remaining` is 0, wait until `x-ratelimit-reset` (epoch seconds);
else wait at least a minute and back off exponentially. A 403 without any of these signals is a
permission error and is not retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from dlt.common import logger

from copilot_source.declarations import DOCS
from copilot_source.errors import RateLimited

# below this share of the hourly budget, requests are spread evenly until the reset
LOW_BUDGET_SHARE = 0.02
LOW_BUDGET_MIN = 50
# GitHub's reset is a whole epoch second: wait one more so a clock slightly behind is covered
RESET_MARGIN_SECONDS = 1.0


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    text = str(value).strip()
    if not text.isascii() or not text.isdigit():
        return None
    return int(text)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `retry-after` value: delay-seconds or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)


@dataclass(frozen=True)
class RateLimitInfo:
    """What GitHub's rate-limit headers say about one response."""

    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None
    retry_after: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], now: float | None = None) -> RateLimitInfo:
        lowered = {str(name).lower(): value for name, value in headers.items()}
        return cls(
            limit=_int_header(lowered, "x-ratelimit-limit"),
            remaining=_int_header(lowered, "x-ratelimit-remaining"),
            reset=_int_header(lowered, "x-ratelimit-reset"),
            retry_after=parse_retry_after(lowered.get("retry-after"), time.time() if now is None else now),
        )


# how GitHub words a secondary limit in the body of a 403 (older answers say "abuse detection")
RATE_LIMIT_WORDS = ("rate limit", "abuse detection")


def is_rate_limited(status: int, info: RateLimitInfo, message: str = "") -> bool:
    """429 always; 403 only with an exhausted budget, a retry-after, or GitHub saying so."""
    if status == 429:
        return True
    if status != 403:
        return False
    said = message.lower()
    return info.remaining == 0 or info.retry_after is not None or any(words in said for words in RATE_LIMIT_WORDS)


def rate_limit_wait(info: RateLimitInfo, attempt: int, min_wait: float, now: float) -> float:
    """Seconds to wait: retry-after, else until the reset, else exponential backoff from min_wait."""
    if info.retry_after is not None:
        return info.retry_after
    if info.remaining == 0 and info.reset is not None:
        return max(0.0, info.reset - now) + RESET_MARGIN_SECONDS
    return float(min_wait * 2.0 ** min(attempt, 32))


def _clock_time(epoch: float) -> str:
    # rounded first: `now + (reset - now)` may land a hair before the reset's whole second
    return datetime.fromtimestamp(round(epoch, 3), timezone.utc).strftime("%H:%M:%S UTC")


class RateLimiter:
    """Shared by all threads of one client: pauses everyone while GitHub asks us to wait.

    `total_waited` is wall-clock time during which requests were held back: threads waiting
    side by side for the same pause count once, so the ceiling means the same at any concurrency.
    """

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
        self._held_until = 0.0
        self._next_slot = 0.0
        self._last = RateLimitInfo()
        self._paced_window: int | None = None

    def _hold(self, until: float, now: float, cause: str) -> None:
        """Account for holding requests back until `until`; past the ceiling, fail instead."""
        added = max(0.0, until - max(now, self._held_until))
        if self.total_waited + added > self.max_wait:
            raise RateLimited(
                f"{cause}: requests could resume at {_clock_time(until)} (in {until - now:.0f}s),"
                f" past this run's ceiling of {self.max_wait:.0f}s of waiting on rate limits"
                f" ({self.total_waited:.0f}s spent).",
                "Run again after the limit resets, lower `concurrency`, or raise"
                " `rate_limit_max_wait` under [sources.copilot].",
                docs_url=DOCS["rate_limits"],
            )
        self.total_waited += added
        self._held_until = max(self._held_until, until)

    def _next_start(self, now: float) -> tuple[float, str | None]:
        """When the next request may start, and a message when that is new pacing to log."""
        if self._paused_until > now:
            return self._paused_until, None
        info = self._last
        if info.remaining is None or info.reset is None or info.limit is None or info.reset <= now:
            return now, None
        threshold = max(LOW_BUDGET_MIN, int(info.limit * LOW_BUDGET_SHARE))
        if info.remaining >= threshold:
            return now, None
        first_in_window = self._paced_window != info.reset
        self._paced_window = info.reset
        if info.remaining == 0:
            # the budget is spent: the next request would only be refused
            start = info.reset + RESET_MARGIN_SECONDS
            note = (
                f"GitHub's rate-limit budget is spent (0 of {info.limit} requests left): waiting"
                f" {start - now:.0f}s, resuming at {_clock_time(start)}."
            )
            return start, note if first_in_window else None
        spacing = (info.reset - now) / info.remaining
        start = max(now, self._next_slot)
        self._next_slot = start + spacing
        note = (
            f"GitHub's rate-limit budget is low ({info.remaining} of {info.limit} requests left"
            f" until {_clock_time(info.reset)}): slowing down to one request every {spacing:.1f}s."
        )
        return start, note if first_in_window else None

    def before_request(self) -> None:
        """Wait out a pause, and pace requests when the hourly budget runs low."""
        now = self._clock()
        with self._lock:
            start, note = self._next_start(now)
            if start > now:
                self._hold(start, now, "GitHub's rate-limit budget ran out")
        if note:
            logger.warning(note)
        if start > now:
            self._sleep(start - now)

    def observe(self, info: RateLimitInfo) -> None:
        """Remember the budget; a late answer from the same window never raises what is left."""
        if info.remaining is None:
            return
        with self._lock:
            last = self._last
            stale = last.reset == info.reset and last.remaining is not None and last.remaining < info.remaining
            if not stale:
                self._last = info

    def on_rate_limited(self, info: RateLimitInfo, attempt: int, what: str) -> None:
        """Pause all requests for as long as GitHub asks, or raise `RateLimited` past the ceiling."""
        now = self._clock()
        wait = rate_limit_wait(info, attempt, self.min_wait, now)
        with self._lock:
            self._hold(now + wait, now, f"GitHub rate-limited {what}")
            self._paused_until = max(self._paused_until, now + wait)
            resume = self._paused_until
        logger.warning(
            f"Rate limited by GitHub on {what}; waiting {resume - now:.0f}s, resuming at {_clock_time(resume)}."
        )
        self._sleep(max(0.0, resume - self._clock()))
