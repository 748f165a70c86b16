"""GitHub's rate limits: recognise them, wait the right time, slow down before hitting the wall.

GitHub's rules: a rate-limited request answers 403 or 429. Wait `retry-after` seconds when it is
there; else, when `x-ratelimit-remaining` is 0, wait until `x-ratelimit-reset` (epoch seconds);
else wait at least a minute and back off exponentially. A 403 without any of these signals is a
permission error and is not retried. Header values that are not numbers are treated as absent;
numbers too large to mean anything are capped, so an absurd wait meets the run's ceiling and
fails with `rate_limited` instead of overflowing.
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
# header numbers above this (about 30,000 years in seconds) are capped: still absurd, but a float
HEADER_NUMBER_CAP = 10**12
# GitHub's window is an hour: a budget whose reset is further away than this is not used to pace
PACING_HORIZON_SECONDS = 86400.0
# waits beyond this are described as absurd rather than as a time of day
YEAR_SECONDS = 366 * 86400.0


def _header_number(text: str) -> int | None:
    """A non-negative whole number, capped at HEADER_NUMBER_CAP; None for anything else."""
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    # compared as text first: int() refuses numbers of more than 4300 digits
    if len(text.lstrip("0")) > len(str(HEADER_NUMBER_CAP)):
        return HEADER_NUMBER_CAP
    return min(int(text), HEADER_NUMBER_CAP)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    return None if value is None else _header_number(str(value))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `retry-after` value: delay-seconds or an HTTP date (RFC 9110)."""
    if value is None:
        return None
    text = str(value).strip()
    seconds = _header_number(text)
    if seconds is not None:
        return float(seconds)
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


def describe_resume(until: float, now: float) -> str:
    """When requests resume, in words: a time of day (with its date beyond a day), or, for a wait
    no rate limit really lasts, what is probably wrong."""
    wait = until - now
    if wait >= YEAR_SECONDS:
        return (
            "in more than a year, which no GitHub rate limit lasts (a proxy or gateway may be"
            " sending wrong rate-limit headers)"
        )
    if wait >= 86400:
        moment = datetime.fromtimestamp(round(until, 3), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"at {moment} (in {wait / 86400:.1f} days)"
    return f"at {_clock_time(until)} (in {max(0.0, wait):.0f}s)"


class RateLimiter:
    """Shared by all threads of one client: pauses everyone while GitHub asks us to wait.

    `total_waited` is wall-clock time during which requests were held back: threads waiting
    side by side for the same pause count once, so the ceiling means the same at any concurrency.

    Pacing counts requests in flight: the `remaining` of an answer does not include requests
    started after it, nor perhaps those still on their way, so each of them is taken off the
    budget. A late answer with a higher `remaining` was already counted (GitHub answered it
    first); one with a lower count replaces the budget. Each `before_request` is followed by
    `observe` of its answer: an answer without a count keeps its request off the budget until the
    window ends, a request never answered stays counted. The budget can be underestimated for a
    while (the run slows down), never overspent.
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
        # requests let through and not yet answered; those of them, and of the answered ones,
        # that `_last.remaining` may not count yet; answers without a count in `_last`'s window
        self._in_flight = 0
        self._uncounted = 0
        self._unknown = 0

    def _hold(self, until: float, now: float, cause: str) -> None:
        """Account for holding requests back until `until`; past the ceiling, fail instead."""
        added = max(0.0, until - max(now, self._held_until))
        if self.total_waited + added > self.max_wait:
            raise RateLimited(
                f"{cause}: requests could resume {describe_resume(until, now)},"
                f" past this run's ceiling of {self.max_wait:.0f}s of waiting on rate limits"
                f" ({self.total_waited:.0f}s spent).",
                "Run again after the limit resets, lower `concurrency`, or raise"
                " `rate_limit_max_wait` under [sources.copilot].",
                docs_url=DOCS["rate_limits"],
            )
        self.total_waited += added
        self._held_until = max(self._held_until, until)

    def _budget(self) -> int | None:
        """Requests GitHub will still take before the reset: the last `remaining` less every
        request that answer cannot have counted (in flight then, or started since)."""
        remaining = self._last.remaining
        return None if remaining is None else max(0, remaining - self._uncounted)

    def _next_start(self, now: float) -> tuple[float, str | None]:
        """When the next request may start, and a message when that is new pacing to log."""
        if self._paused_until > now:
            return self._paused_until, None
        info = self._last
        budget = self._budget()
        if budget is None or info.reset is None or info.limit is None or info.reset <= now:
            return now, None
        if info.reset - now > PACING_HORIZON_SECONDS:
            return now, None  # not GitHub's hourly window: headers we cannot pace by
        threshold = max(LOW_BUDGET_MIN, int(info.limit * LOW_BUDGET_SHARE))
        if budget >= threshold:
            return now, None
        first_in_window = self._paced_window != info.reset
        self._paced_window = info.reset
        if budget == 0:
            # the budget is spent, or will be by the requests under way: the next would be refused
            start = info.reset + RESET_MARGIN_SECONDS
            wait = f"waiting {start - now:.0f}s, resuming at {_clock_time(start)}."
            if info.remaining == 0:
                note = f"GitHub's rate-limit budget is spent (0 of {info.limit} requests left): {wait}"
            else:
                note = (
                    f"GitHub's rate-limit budget is low ({info.remaining} of {info.limit} requests left"
                    f" until {_clock_time(info.reset)}, all taken by requests already under way):"
                    f" slowing down, {wait}"
                )
            return start, note if first_in_window else None
        # this request and the budget's others spread evenly from the first free slot to the reset
        start = max(now, self._next_slot)
        spacing = max(0.0, info.reset - start) / budget
        self._next_slot = start + spacing
        note = (
            f"GitHub's rate-limit budget is low ({budget} of {info.limit} requests left"
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
            # counted now, not when it is sent: later requests must see it taken off the budget
            self._in_flight += 1
            self._uncounted += 1
        if note:
            logger.warning(note)
        if start > now:
            self._sleep(start - now)

    def observe(self, info: RateLimitInfo) -> None:
        """Count an answer and remember the budget it names; a late answer from the same window
        never raises what is left."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if info.remaining is None:
                # no count (a proxy's error page?): GitHub may have counted it at any time, so it
                # stays off the budget until the window ends
                self._unknown += 1
                return
            last = self._last
            same_window = last.reset == info.reset
            if same_window and last.remaining is not None and last.remaining < info.remaining:
                # GitHub answered it before the request that set `_last`: already in that count
                self._uncounted = max(self._unknown, self._uncounted - 1)
                return
            if not same_window:
                self._unknown = 0
            # a count no higher includes every answer with a count seen in this window, perhaps
            # not the requests still on their way
            self._last = info
            self._uncounted = self._in_flight + self._unknown

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
