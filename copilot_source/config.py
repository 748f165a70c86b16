"""Validate the source's configuration before any request, naming the key and its env var."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from dlt.common.configuration.exceptions import ConfigurationException, ConfigValueCannotBeCoercedException

from copilot_source.declarations import FIRST_REPORT_DAY, REPORT_RETENTION_DAYS, RESOURCE_NAMES
from copilot_source.errors import ConfigurationError
from copilot_source.github.urls import base_url_problem

DEFAULT_BASE_URL = "https://api.github.com"
DEFAULT_API_VERSION = "2022-11-28"
DEFAULT_LOOKBACK_DAYS = 3
DEFAULT_CONCURRENCY = 4
DEFAULT_RATE_LIMIT_MAX_WAIT_SECONDS = 3600
# GitHub: without retry-after or an exhausted budget, wait at least a minute, then back off
DEFAULT_RATE_LIMIT_MIN_WAIT_SECONDS = 60
# an API answer is a few KB: minutes mean a server trickling it, not a slow link
DEFAULT_API_DEADLINE_SECONDS = 300
# a whole report file, all redirects included: 1 GiB at ~1 MB/s, well inside a link's lifetime
DEFAULT_DOWNLOAD_DEADLINE_SECONDS = 1800
# per file, received and inflated alike: twice the largest file expected (100,000 users at up
# to 5 KB per line is ~500 MB); bounds the disk a run needs to concurrency x files x this
DEFAULT_MAX_DOWNLOAD_BYTES = 1 << 30
# one NDJSON line: an enterprise-1-day line is a few MB at most; the parsers hold a line whole
DEFAULT_MAX_LINE_BYTES = 32 << 20

SECTION = "sources.copilot"
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,98}[A-Za-z0-9])?$")


def config_key(key: str) -> str:
    """How a key is named in `.dlt/*.toml` and in the environment."""
    return f"`{key}` under [{SECTION}] (env {SECTION.replace('.', '__').upper()}__{key.upper()})"


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def earliest_report_day(today: date | None = None) -> date:
    """The oldest day GitHub still serves: one year back, never before the first report day."""
    today = today or utc_today()
    return max(FIRST_REPORT_DAY, today - timedelta(days=REPORT_RETENTION_DAYS))


def parse_day(value: Any, key: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigurationError(
            f"{config_key(key)} is {value!r}, which is not a date.",
            "Write it as YYYY-MM-DD, e.g. 2026-01-31.",
        ) from None


def parse_int(value: Any, key: str, low: int, high: int) -> int:
    try:
        number = int(value)
        if str(number) != str(value).strip() and not isinstance(value, int):
            raise ValueError(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{config_key(key)} is {value!r}, which is not a whole number.",
            f"Set it to a number from {low} to {high}.",
        ) from None
    if not low <= number <= high:
        raise ConfigurationError(
            f"{config_key(key)} is {number}, outside {low}..{high}.",
            f"Set it to a number from {low} to {high}.",
        )
    return number


@dataclass(frozen=True)
class SourceSettings:
    """The validated configuration of one source instance."""

    enterprise: str
    access_token: str
    base_url: str
    api_version: str
    start_date: date
    end_date: date | None
    lookback_days: int
    concurrency: int
    rate_limit_max_wait: float
    rate_limit_min_wait: float
    # the UTC day this run treats as today: the newest day it may ask for is the day before
    today: date
    # bounds on every transfer (see docs/security.md)
    api_deadline: float = DEFAULT_API_DEADLINE_SECONDS
    download_deadline: float = DEFAULT_DOWNLOAD_DEADLINE_SECONDS
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    @property
    def is_backfill(self) -> bool:
        return self.end_date is not None


def validate_settings(
    enterprise: Any,
    access_token: Any,
    base_url: Any,
    api_version: Any,
    start_date: Any,
    end_date: Any,
    lookback_days: Any,
    concurrency: Any,
    rate_limit_max_wait: Any,
    rate_limit_min_wait: Any,
    today: Any = None,
    api_deadline: Any = DEFAULT_API_DEADLINE_SECONDS,
    download_deadline: Any = DEFAULT_DOWNLOAD_DEADLINE_SECONDS,
    max_download_bytes: Any = DEFAULT_MAX_DOWNLOAD_BYTES,
    max_line_bytes: Any = DEFAULT_MAX_LINE_BYTES,
) -> SourceSettings:
    """Check every value; raise `ConfigurationError` on the first bad one."""
    if not enterprise or not isinstance(enterprise, str):
        raise ConfigurationError(
            f"{config_key('enterprise')} is not set.",
            "Set it to your enterprise's slug: `octo-corp` in https://github.com/enterprises/octo-corp.",
        )
    slug = enterprise.strip()
    if not SLUG_PATTERN.match(slug):
        raise ConfigurationError(
            f"{config_key('enterprise')} is {enterprise!r}, which is not an enterprise slug.",
            "Use only the slug: `octo-corp` in https://github.com/enterprises/octo-corp.",
        )
    if not access_token or not isinstance(access_token, str) or not access_token.strip():
        raise ConfigurationError(
            f"{config_key('access_token')} is not set.",
            "Put a classic personal access token with `manage_billing:copilot` or `read:enterprise`"
            " in .dlt/secrets.toml (see .dlt/example.secrets.toml), or run with --demo.",
        )
    token = access_token.strip()
    if token.lower().startswith(("bearer ", "token ")) or any(c.isspace() for c in token):
        raise ConfigurationError(
            f"{config_key('access_token')} contains spaces or an auth scheme prefix.",
            "Store the bare token only, without 'Bearer ' or quotes.",
        )
    base = str(base_url or "").strip().rstrip("/")
    if not base:
        raise ConfigurationError(f"{config_key('base_url')} is empty.", "Remove it to use https://api.github.com.")
    problem = base_url_problem(base)
    if problem:
        raise ConfigurationError(
            f"{config_key('base_url')} cannot be used: {problem}.",
            "Set it to the API host alone: https://api.github.com, or https://api.<subdomain>.ghe.com"
            " (plain http:// only on loopback, for tests and the demo).",
        )
    today = parse_day(today, "today") or utc_today()
    start = parse_day(start_date, "start_date")
    end = parse_day(end_date, "end_date")
    earliest = earliest_report_day(today)
    if start is not None and start < FIRST_REPORT_DAY:
        raise ConfigurationError(
            f"{config_key('start_date')} is {start}, before {FIRST_REPORT_DAY}, the first day"
            " GitHub has usage reports for.",
            f"Set it to {FIRST_REPORT_DAY} or later, or remove it to load all GitHub still keeps.",
        )
    if start is None or start < earliest:
        start = earliest
    if end is not None:
        if end < start:
            raise ConfigurationError(
                f"{config_key('end_date')} is {end}, before the start date {start}.",
                "Give an end date on or after the start date.",
            )
        if end >= today:
            end = today - timedelta(days=1)
    return SourceSettings(
        enterprise=slug,
        access_token=token,
        base_url=base,
        api_version=str(api_version or "").strip() or DEFAULT_API_VERSION,
        start_date=start,
        end_date=end,
        lookback_days=parse_int(lookback_days, "lookback_days", 0, REPORT_RETENTION_DAYS),
        concurrency=parse_int(concurrency, "concurrency", 1, 32),
        rate_limit_max_wait=float(parse_int(rate_limit_max_wait, "rate_limit_max_wait", 0, 7 * 86400)),
        rate_limit_min_wait=float(parse_int(rate_limit_min_wait, "rate_limit_min_wait", 0, 3600)),
        today=today,
        api_deadline=float(parse_int(api_deadline, "api_deadline", 1, 86400)),
        download_deadline=float(parse_int(download_deadline, "download_deadline", 1, 86400)),
        max_download_bytes=parse_int(max_download_bytes, "max_download_bytes", 1024, 1 << 40),
        max_line_bytes=parse_int(max_line_bytes, "max_line_bytes", 1024, 1 << 31),
    )


def config_error_from_dlt(exc: ConfigurationException) -> ConfigurationError:
    """dlt's own config failure (a value it cannot coerce to the parameter's type) in our words."""
    if isinstance(exc, ConfigValueCannotBeCoercedException):
        hint = getattr(exc.hint, "__name__", str(exc.hint))
        shown = "a value" if "token" in exc.field_name else repr(exc.field_value)
        return ConfigurationError(
            f"{config_key(exc.field_name)} is {shown}, which is not of type {hint}.",
            "Correct the value, or remove it to use the default.",
        )
    return ConfigurationError(
        f"The configuration under [{SECTION}] could not be read: {exc}",
        "Correct the value named above in .dlt/config.toml, .dlt/secrets.toml or the environment.",
    )


def validate_resource_names(names: Sequence[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in RESOURCE_NAMES]
    if unknown:
        raise ConfigurationError(
            f"Unknown resource name(s): {', '.join(unknown)}.",
            f"Choose from: {', '.join(RESOURCE_NAMES)}.",
        )
    return tuple(names)
