"""Validate the source's configuration before any request, naming the key and its env var."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, cast
from unicodedata import name as unicode_name

from dlt.common import logger
from dlt.common.configuration.exceptions import ConfigurationException, ConfigValueCannotBeCoercedException
from dlt.common.schema.typing import TTableFormat

from copilot_source.accounts import Account, AppSettings
from copilot_source.declarations import (
    ENTERPRISE,
    FIRST_REPORT_DAY,
    ORGANIZATION,
    REPORT_RETENTION_DAYS,
    RESOURCE_NAMES,
    Scope,
)
from copilot_source.errors import ConfigurationError
from copilot_source.github.auth import FINE_GRAINED, load_private_key, token_kind
from copilot_source.github.urls import base_url_problem

DEFAULT_BASE_URL = "https://api.github.com"
DEFAULT_API_VERSION = "2022-11-28"
DEFAULT_LOOKBACK_DAYS = 3
DEFAULT_CONCURRENCY = 4
DEFAULT_RATE_LIMIT_MAX_WAIT_SECONDS = 3600
# AI usage report exports: the first pause between polls (pauses double up to a minute) and how
# long an export may take before the run gives up on it
DEFAULT_BILLING_POLL_SECONDS = 2.0
DEFAULT_BILLING_EXPORT_TIMEOUT_SECONDS = 1800
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
APP_SECTION = f"{SECTION}.github_app"
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,98}[A-Za-z0-9])?$")
# GitHub names its REST API versions by date (the `X-GitHub-Api-Version` header)
API_VERSION_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# open table formats whose merges replace a day (dlt's Iceberg merge cannot delete rows)
TABLE_FORMATS: tuple[TTableFormat, ...] = ("delta",)


def config_key(key: str, section: str = SECTION) -> str:
    """How a key is named in `.dlt/*.toml` and in the environment."""
    return f"`{key}` under [{section}] (env {section.replace('.', '__').upper()}__{key.upper()})"


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def earliest_report_day(today: date | None = None) -> date:
    """The oldest day GitHub still serves: one year back, never before the first report day."""
    today = today or utc_today()
    return max(FIRST_REPORT_DAY, today - timedelta(days=REPORT_RETENTION_DAYS))


def parse_day(value: Any, key: str, name: str | None = None) -> date | None:
    """A day from config (or, named by `name`, from the command line); None when unset."""
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
            f"{name or config_key(key)} is {str(value)[:40]!r}, which is not a date.",
            "Write it as YYYY-MM-DD, e.g. 2026-01-31.",
        ) from None


def first_control_character(value: str) -> str | None:
    """How to name the first character that cannot go into an HTTP header, e.g. 'U+000D at position 11'."""
    for position, char in enumerate(value, start=1):
        if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            return f"U+{ord(char):04X} at position {position}"
    return None


def check_token(access_token: Any) -> str:
    """The bare token, or `ConfigurationError` saying what is wrong with it without showing it."""
    if not access_token or not isinstance(access_token, str) or not access_token.strip():
        raise ConfigurationError(
            f"{config_key('access_token')} is not set.",
            "Put a classic personal access token with `manage_billing:copilot` or `read:enterprise`"
            " in .dlt/secrets.toml (see .dlt/example.secrets.toml), or run with --demo.",
        )
    token = access_token.strip(" ")
    control = first_control_character(token)
    if control:
        raise ConfigurationError(
            f"{config_key('access_token')} contains a control character ({control}), e.g. a line break.",
            "Store the token on one line, without line breaks or other invisible characters.",
        )
    foreign = next(((n, c) for n, c in enumerate(token, start=1) if not c.isascii()), None)
    if foreign is not None:
        position, char = foreign
        raise ConfigurationError(
            f"{config_key('access_token')} contains the character {char!r} ({unicode_name(char, f'U+{ord(char):04X}')})"
            f" at position {position}; GitHub tokens are plain ASCII letters, digits and underscores.",
            "Copy the token again from GitHub into .dlt/secrets.toml or the env var as plain text: an editor or"
            " chat tool may have replaced a character (e.g. a typographic quote).",
        )
    if token.lower().startswith(("bearer ", "token ")) or any(c.isspace() for c in token):
        raise ConfigurationError(
            f"{config_key('access_token')} contains spaces or an auth scheme prefix.",
            "Store the bare token only, without 'Bearer ' or quotes.",
        )
    if "..." in token:
        raise ConfigurationError(
            f"{config_key('access_token')} is still the placeholder of .dlt/example.secrets.toml.",
            "Replace it with a classic personal access token with `manage_billing:copilot` or `read:enterprise`.",
        )
    return token


def check_api_version(api_version: Any) -> str:
    """The `X-GitHub-Api-Version` header value: a date-named version, nothing that could split the header."""
    text = str(api_version if api_version is not None else "").strip(" ")
    if not text:
        return DEFAULT_API_VERSION
    control = first_control_character(text)
    if control or not API_VERSION_PATTERN.match(text):
        what = f"contains a control character ({control})" if control else f"is {text[:40]!r}"
        raise ConfigurationError(
            f"{config_key('api_version')} {what}, which is not a GitHub REST API version.",
            f"Use a version date such as {DEFAULT_API_VERSION}, or remove the setting to use that default.",
        )
    return text


def parse_table_format(value: Any) -> TTableFormat | None:
    """The `table_format` source setting: unset, or an open table format we can merge into."""
    if value is None or str(value).strip() == "":
        return None
    table_format = cast(TTableFormat, str(value).strip().lower())
    if table_format not in TABLE_FORMATS:
        raise ConfigurationError(
            f"{config_key('table_format')} is {value!r}, which is not a table format this source loads.",
            'Set it to "delta" to write Delta tables with the filesystem destination, or remove it.',
        )
    return table_format


def _names(value: Any, key: str) -> list[str]:
    """A slug, a list of slugs, or the text of a JSON list (an env var) or of a comma-separated list."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ConfigurationError(
                    f"{config_key(key)} is {text[:80]!r}, which is not a list.",
                    'Write a list such as ["octo-org", "octo-labs"].',
                ) from None
        else:
            value = [part for part in text.split(",")]
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError(f"{config_key(key)} is {value!r}, which is not a name or a list of names.", "")
    return [str(item).strip() for item in value if str(item).strip()]


def parse_accounts(enterprise: Any, organizations: Any) -> tuple[Account, ...]:
    """The accounts to load, enterprises first, each once; `ConfigurationError` naming a bad one."""
    accounts: list[Account] = []
    examples = {
        "enterprise": "`octo-corp` in https://github.com/enterprises/octo-corp",
        "organizations": "`octo-org` in https://github.com/octo-org",
    }
    for key, scope, value in (("enterprise", ENTERPRISE, enterprise), ("organizations", ORGANIZATION, organizations)):
        for name in _names(value, key):
            if not SLUG_PATTERN.match(name):
                raise ConfigurationError(
                    f"{config_key(key)} holds {name!r}, which is not an {scope.name} name.",
                    f"Use only the name: {examples[key]}.",
                )
            account = Account(scope, name)
            if account.key.lower() in {a.key.lower() for a in accounts}:
                raise ConfigurationError(f"{config_key(key)} names {name!r} twice.", "Name each account once.")
            accounts.append(account)
    if not accounts:
        raise ConfigurationError(
            f"Neither {config_key('enterprise')} nor {config_key('organizations')} is set.",
            "Set `enterprise` to your enterprise's slug (`octo-corp` in https://github.com/enterprises/octo-corp)"
            ' and/or `organizations` to a list of organization logins (["octo-org"]).',
        )
    return tuple(accounts)


def parse_app(github_app: Any) -> AppSettings | None:
    """The `github_app` section, checked: an App id and a readable private key."""
    if github_app is None:
        return None
    app_id = str(getattr(github_app, "app_id", None) or "").strip()
    key = getattr(github_app, "private_key", None)
    if not app_id and not key:
        return None  # dlt hands an empty section when nothing of it is configured
    if not app_id:
        raise ConfigurationError(f"{config_key('app_id', APP_SECTION)} is not set.", "Set the App's id or client id.")
    if not key:
        raise ConfigurationError(
            f"{config_key('private_key', APP_SECTION)} is not set.",
            "Put the App's private key (PEM text, or the path of its .pem file) in .dlt/secrets.toml.",
        )
    pem = load_private_key(str(key), config_key("private_key", APP_SECTION))
    ids = getattr(github_app, "installation_ids", None) or []
    try:
        installation_ids = tuple(int(i) for i in ids)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{config_key('installation_ids', APP_SECTION)} is {ids!r}, which is not a list of numbers.",
            "List the installation ids as numbers, or remove the key to find them through the API.",
        ) from None
    return AppSettings(app_id, pem, installation_ids)


def check_token_scope(token: str, accounts: tuple[Account, ...]) -> None:
    """GitHub refuses fine-grained tokens at enterprise scope: say so before any request."""
    enterprises = [a.slug for a in accounts if a.scope is ENTERPRISE]
    if enterprises and token_kind(token) == FINE_GRAINED:
        raise ConfigurationError(
            f"{config_key('access_token')} is a fine-grained personal access token, and GitHub refuses those at"
            f" enterprise scope (enterprise {', '.join(enterprises)}).",
            "Use a classic personal access token with `manage_billing:copilot` or `read:enterprise` held by an"
            " enterprise owner or billing manager, or a GitHub App installed on the enterprise; fine-grained tokens"
            " work for `organizations`.",
        )


def parse_flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "", "none"):
        return False
    raise ConfigurationError(f"{config_key(key)} is {value!r}, which is not true or false.", "Set it to true or false.")


def parse_seconds(value: Any, key: str, low: float, high: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"{config_key(key)} is {value!r}, which is not a number of seconds.", f"Set it to {low:g}..{high:g}."
        ) from None
    if not low <= seconds <= high:
        raise ConfigurationError(
            f"{config_key(key)} is {seconds:g}, outside {low:g}..{high:g}.", f"Set it to {low:g}..{high:g}."
        )
    return seconds


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

    # the enterprises and organizations to load, enterprises first
    accounts: tuple[Account, ...]
    # a personal access token, or a GitHub App (exactly one of them)
    access_token: str | None
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
    # "delta" with the filesystem destination; None for databases and warehouses
    table_format: TTableFormat | None = None
    github_app: AppSettings | None = None
    # AI-credit billing tables: loaded only when asked for (other tables never need billing access)
    billing: bool = False
    billing_poll_interval: float = DEFAULT_BILLING_POLL_SECONDS
    billing_export_timeout: float = DEFAULT_BILLING_EXPORT_TIMEOUT_SECONDS

    @property
    def is_backfill(self) -> bool:
        return self.end_date is not None

    def accounts_of(self, scope: Scope) -> tuple[Account, ...]:
        return tuple(account for account in self.accounts if account.scope is scope)


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
    table_format: Any = None,
    organizations: Any = None,
    github_app: Any = None,
    billing: Any = False,
    billing_poll_interval: Any = DEFAULT_BILLING_POLL_SECONDS,
    billing_export_timeout: Any = DEFAULT_BILLING_EXPORT_TIMEOUT_SECONDS,
) -> SourceSettings:
    """Check every value; raise `ConfigurationError` on the first bad one."""
    accounts = parse_accounts(enterprise, organizations)
    app = parse_app(github_app)
    token: str | None = None
    if app is None:
        token = check_token(access_token)
        check_token_scope(token, accounts)
    elif access_token:
        raise ConfigurationError(
            f"Both {config_key('access_token')} and the GitHub App under [{APP_SECTION}] are set.",
            "Keep the one the source should use: remove `access_token` to authenticate as the App, or the"
            f" [{APP_SECTION}] section to use the token.",
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
    newest = today - timedelta(days=1)
    if start is not None and start < FIRST_REPORT_DAY:
        raise ConfigurationError(
            f"{config_key('start_date')} is {start}, before {FIRST_REPORT_DAY}, the first day"
            " GitHub has usage reports for.",
            f"Set it to {FIRST_REPORT_DAY} or later, or remove it to load all GitHub still keeps.",
        )
    if start is not None and start > newest:
        raise ConfigurationError(
            f"{config_key('start_date')} is {start}, after {newest}, the newest day GitHub can have a"
            " report for (the day before today, UTC): there is nothing to load from there.",
            f"Set it to {newest} or earlier, or remove it to load all GitHub still keeps.",
        )
    if start is None or start < earliest:
        start = earliest
    if end is not None:
        if end < start:
            raise ConfigurationError(
                f"{config_key('end_date')} is {end}, before the start date {start}.",
                "Give an end date on or after the start date.",
            )
        if end > newest:
            logger.warning(
                f"end_date {end} is in the future: loading up to {newest}, the newest day GitHub can have"
                " a report for (the day before today, UTC)."
            )
            end = newest
    return SourceSettings(
        accounts=accounts,
        access_token=token,
        base_url=base,
        api_version=check_api_version(api_version),
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
        table_format=parse_table_format(table_format),
        github_app=app,
        billing=parse_flag(billing, "billing"),
        billing_poll_interval=parse_seconds(billing_poll_interval, "billing_poll_interval", 0.01, 600),
        billing_export_timeout=float(parse_int(billing_export_timeout, "billing_export_timeout", 1, 86400)),
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
        f"The configuration under [{SECTION}] could not be read: {' '.join(str(exc).split())[:600]}",
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
