"""Check a configuration against GitHub before the first load: one verdict per endpoint we load.

Most first runs fail on access, not data: a token without the scope, a user who is not an
enterprise owner, the usage-metrics policy switched off. The check asks each endpoint once (a
seat page, one recent day of each report and its first file) and explains every failure with
the same codes a load uses. It never waits on rate limits: a limited check fails at once.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import requests
from dlt.common.configuration import get_fun_spec, resolve_configuration
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.configuration.providers.toml import TomlProviderReadException
from dlt.common.configuration.resolve import inject_section
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext

from copilot_source import copilot_source
from copilot_source.accounts import Account, make_credentials
from copilot_source.billing import USAGE_DOCS
from copilot_source.config import (
    SourceSettings,
    config_error_from_dlt,
    earliest_report_day,
    validate_settings,
)
from copilot_source.declarations import DOCS, ENTERPRISE, ORGANIZATION, REPORT_DELAY_DAYS, REPORTS, Report
from copilot_source.errors import (
    ConfigurationError,
    CopilotSourceError,
    InvalidCredentials,
    MetricsDisabled,
    NoResource,
    RateLimited,
    Unreachable,
    metrics_disabled,
)
from copilot_source.github.auth import FINE_GRAINED, token_kind
from copilot_source.github.client import GitHubClient
from copilot_source.github.ratelimit import RateLimiter, RateLimitInfo, describe_resume
from copilot_source.github.responses import report_links
from copilot_source.ops.failures import settings_file_error
from copilot_source.ops.runner import PIPELINE_NAME
from copilot_source.resources import ORG_BILLING_DOCS
from copilot_source.seats import seats_endpoint

# recent days tried per report before concluding that GitHub refuses them all
CHECK_DAYS = 7
# the legacy /copilot/metrics endpoint answers 404 since this day
LEGACY_CLOSED_ON = date(2026, 4, 2)
SEATS = "seats"
BILLING = "billing"
CREDITS = "ai credits"
CREDENTIALS = "credentials"
LEGACY = "legacy metrics"
LEGACY_ENDPOINT = "the legacy Copilot metrics endpoint"
# failures every endpoint on the API host shares: asking the others would only repeat them
HOST_WIDE = (InvalidCredentials, RateLimited, Unreachable)


class Status(str, Enum):
    OK = "ok"
    FAIL = "fail"
    SKIPPED = "skipped"
    INFO = "info"

    @property
    def label(self) -> str:
        return {"skipped": "SKIP"}.get(self.value, self.value.upper())


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one endpoint."""

    name: str
    status: Status
    detail: str = ""
    error: CopilotSourceError | None = None
    request_id: str | None = None
    docs_url: str | None = None
    # the enterprise or organization the endpoint belongs to ("" for the credentials)
    account: str = ""

    @property
    def passed(self) -> bool:
        return self.status in (Status.OK, Status.INFO)

    def line(self, width: int = len("enterprise-1-day")) -> str:
        label = f"{self.name.ljust(width)}  {self.status.label.ljust(4)} "
        if self.error is None:
            return f"{label}{self.detail}".rstrip()
        error = self.error
        text = f"{label}{error.code}: {error.cause}"
        if error.fix:
            text += f" Fix: {error.fix}"
        if self.status is Status.FAIL and not isinstance(error, ConfigurationError):
            # every failure names GitHub's request id (what GitHub support asks for) and a docs page
            text += f" GitHub request id: {self.request_id or 'none (GitHub never answered)'}."
            text += f" Docs: {self.docs_url}"
        return text

    def as_dict(self) -> dict[str, Any]:
        error = self.error
        return {
            "name": self.name,
            "account": self.account or None,
            "status": self.status.value,
            "ok": self.passed,
            "detail": self.detail or None,
            "code": error.code if error else None,
            "cause": error.cause if error else None,
            "fix": error.fix if error else None,
            "request_id": self.request_id,
            "docs_url": self.docs_url,
        }


def failed(name: str, error: CopilotSourceError, docs_url: str | None = None, account: str = "") -> CheckResult:
    return CheckResult(
        name,
        Status.FAIL,
        error=error,
        request_id=error.request_id,
        docs_url=error.docs_url or docs_url,
        account=account,
    )


@dataclass(frozen=True)
class CheckReport:
    """All verdicts of one check; `ok` when no endpoint failed."""

    accounts: tuple[str, ...]
    base_url: str | None
    results: tuple[CheckResult, ...]
    checked_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def ok(self) -> bool:
        return all(result.passed for result in self.results)

    def lines(self) -> list[str]:
        where = f"{', '.join(self.accounts)} at {self.base_url}" if self.accounts else "the configuration"
        width = max(len(result.name) for result in self.results)
        out = [f"Checking {where}:"]
        heading = ""
        for result in self.results:
            if len(self.accounts) > 1 and result.account and result.account != heading:
                heading = result.account
                out.append(f"{heading}:")
            out.append(result.line(width))
        counted = [r for r in self.results if r.status is not Status.INFO]
        bad = sum(not r.passed for r in counted)
        out.append(f"All {len(counted)} checks passed." if not bad else f"{bad} of {len(counted)} checks did not pass.")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "accounts": list(self.accounts),
            "base_url": self.base_url,
            "checked_at": self.checked_at.isoformat(timespec="seconds"),
            "checks": [result.as_dict() for result in self.results],
        }


def load_settings() -> SourceSettings:
    """The source's configuration resolved exactly as a load resolves it (same keys, same env
    vars: the source's own generated config spec), then validated the same way."""
    spec = get_fun_spec(inspect.unwrap(copilot_source))
    assert spec is not None, "dlt registers a config spec for every source function"
    sections = ("sources", copilot_source.section or "copilot", copilot_source.name)
    try:
        with inject_section(ConfigSectionContext(pipeline_name=PIPELINE_NAME, sections=sections)):
            values = dict(resolve_configuration(spec()))
    except TomlProviderReadException as exc:
        raise settings_file_error(exc) from None
    except ConfigurationException as exc:
        raise config_error_from_dlt(exc) from None
    # only what validation takes (the function the source validates with too): the source has
    # parameters the check has no use for (fast_path, ...)
    wanted = set(inspect.signature(validate_settings).parameters)
    return validate_settings(**{key: value for key, value in values.items() if key in wanted})


class _NoWaiting(RateLimiter):
    """The check's few requests go out as they are, and a rate limit fails the check at once."""

    def before_request(self) -> None:
        return

    def on_rate_limited(self, info: RateLimitInfo, attempt: int, what: str) -> None:
        now = time.time()
        if info.retry_after is not None:
            resume: float | None = now + info.retry_after
        elif info.remaining == 0 and info.reset is not None:
            resume = float(info.reset)
        else:
            resume = None
        when = (
            f"the limit resets {describe_resume(resume, now)}"
            if resume is not None
            else "GitHub did not say when the limit resets (usually within a minute or two)"
        )
        raise RateLimited(
            f"GitHub rate-limits {what} right now: {when}.",
            "Run the check again after that. Loads wait for the reset themselves, up to"
            " `rate_limit_max_wait` under [sources.copilot]; lower `concurrency` if they often hit the limit.",
            docs_url=DOCS["rate_limits"],
            endpoint=what,
        )


@dataclass
class _Shared:
    """What one account's checks teach the next: a host-wide failure, and a day that has reports."""

    blocker: CopilotSourceError | None = None
    days: list[date] = field(default_factory=list)


class _Checker:
    """Asks one account's endpoints in turn, sharing what earlier answers taught (the day, a
    host-wide failure)."""

    def __init__(self, settings: SourceSettings, client: GitHubClient, account: Account, shared: _Shared) -> None:
        self.settings = settings
        self.client = client
        self.account = account
        self.shared = shared
        self.seats_error: CopilotSourceError | None = None
        self.named = str(account)
        # endpoints name the account where there are several, or an organization's
        several = len(settings.accounts) > 1 or account.scope is not ENTERPRISE
        self.of = f" of {account}" if several else ""

    @property
    def blocker(self) -> CopilotSourceError | None:
        return self.shared.blocker

    def _block(self, exc: CopilotSourceError) -> None:
        if isinstance(exc, HOST_WIDE):
            self.shared.blocker = exc

    def _path(self, tail: str) -> str:
        return f"{self.account.scope.path}/{self.account.slug}/copilot/{tail}"

    def _result(self, name: str, status: Status, detail: str, **more: Any) -> CheckResult:
        return CheckResult(name, status, detail, account=self.named, **more)

    def _failed(self, name: str, error: CopilotSourceError, docs_url: str | None = None) -> CheckResult:
        return failed(name, error, docs_url, account=self.named)

    def seats(self) -> CheckResult:
        if self.blocker is not None:
            return self._skipped(SEATS)
        endpoint = seats_endpoint(self.account, bool(self.of))
        try:
            response = self.client.get(self._path("billing/seats"), endpoint, DOCS["seats"], params={"per_page": 1})
        except CopilotSourceError as exc:
            self.seats_error = exc
            self._block(exc)
            return self._failed(SEATS, exc, DOCS["seats"])
        total = response.json().get("total_seats")  # the client checked it is a JSON object
        detail = f"{total} people hold a Copilot seat (first page read); {_budget(response)}"
        return self._result(SEATS, Status.OK, detail, request_id=_request_id(response), docs_url=DOCS["seats"])

    def billing(self) -> CheckResult:
        """An organization's seat summary and policies (table org_copilot_billing)."""
        if self.blocker is not None:
            return self._skipped(BILLING)
        try:
            response = self.client.get(self._path("billing"), f"the Copilot billing{self.of}", ORG_BILLING_DOCS)
        except CopilotSourceError as exc:
            self._block(exc)
            return self._failed(BILLING, exc, ORG_BILLING_DOCS)
        body = response.json()
        total = (body.get("seat_breakdown") or {}).get("total")
        detail = f"seat summary read: {total} seats, plan {body.get('plan_type') or 'unknown'}"
        return self._result(BILLING, Status.OK, detail, request_id=_request_id(response), docs_url=ORG_BILLING_DOCS)

    def credits(self) -> CheckResult:
        """The AI-credit usage endpoint, for yesterday (only where billing tables are loaded)."""
        if not self.settings.billing:
            return self._result(
                CREDITS, Status.INFO, "not loaded: set `billing = true` to load AI credits (needs billing access)"
            )
        if self.blocker is not None:
            return self._skipped(CREDITS)
        day = self.settings.today - timedelta(days=1)
        prefix = "enterprises" if self.account.scope is ENTERPRISE else "organizations"
        path = f"{prefix}/{self.account.slug}/settings/billing/ai_credit/usage"
        params = {"year": day.year, "month": day.month, "day": day.day}
        try:
            response = self.client.get(path, f"the AI-credit usage{self.of} for {day}", USAGE_DOCS, params=params)
        except CopilotSourceError as exc:
            self._block(exc)
            return self._failed(CREDITS, exc, USAGE_DOCS)
        items = response.json().get("usageItems") or []
        detail = f"AI-credit usage for {day} read: {len(items)} item(s)"
        return self._result(CREDITS, Status.OK, detail, request_id=_request_id(response), docs_url=USAGE_DOCS)

    def report(self, spec: Report) -> CheckResult:
        if self.blocker is not None:
            return self._skipped(spec.report)
        path = spec.path(self.account.slug)
        missing: NoResource | None = None
        days = [d for d in self.shared.days if d >= spec.first_day]
        for day in days:
            endpoint = f"the {spec.report} report{self.of} for {day}"
            try:
                # a 404 raises (it tells a wrong slug or a switched-off policy); "being generated"
                # and a 204 (no data that day) are None
                response = self.client.get_if_present(
                    path, endpoint, spec.docs_url, params={"day": day.isoformat()}, absent=(204,)
                )
            except NoResource as exc:
                missing = exc
                if isinstance(self.seats_error, NoResource):
                    break  # the account itself is not there: every day would answer the same
                continue
            except CopilotSourceError as exc:
                self._block(exc)
                return self._failed(spec.report, exc, spec.docs_url)
            if response is None:
                continue  # not ready yet, or no data that day: try the day before
            try:
                links = report_links(response, endpoint)
            except CopilotSourceError as exc:
                return self._failed(spec.report, exc, spec.docs_url)
            # the other reports are asked for the same day first
            self.shared.days = [day, *(d for d in self.shared.days if d != day)]
            return self._first_file(spec, day, links, response)
        if not days:
            return self._result(spec.report, Status.INFO, f"GitHub has this report from {spec.first_day} on")
        if missing is not None and self.seats_error is not None:
            return self._failed(spec.report, missing, spec.docs_url)  # the account itself is the problem
        if spec.may_be_absent:
            detail = (
                f"no report for {min(days)} to {max(days)}: GitHub publishes one only for days with"
                " activity it covers (teams of five or more seats, repositories with pull requests)"
            )
            return self._result(spec.report, Status.INFO, detail, docs_url=spec.docs_url)
        if missing is None:
            detail = f"no report for {min(days)} to {max(days)} is ready yet (GitHub is generating them)"
            return self._result(spec.report, Status.OK, detail, docs_url=spec.docs_url)
        return self._failed(spec.report, self._no_reports(spec, missing, days))

    def _no_reports(self, spec: Report, last: NoResource, days: list[date]) -> MetricsDisabled:
        return metrics_disabled(
            f"GitHub has no {spec.report} report{self.of} for any day from {min(days)} to {max(days)}"
            f" although the {self.account.scope.name}'s seats answer.",
            scope=self.account.scope.name,
            request_id=last.request_id,
            endpoint=spec.report,
        )

    def _first_file(self, spec: Report, day: date, links: list[str], response: requests.Response) -> CheckResult:
        """The report's links come from GitHub, its files from another host: fetch the first one."""
        request_id = _request_id(response)
        if not links:
            detail = f"report for {day}: GitHub lists no files"
            return self._result(spec.report, Status.OK, detail, request_id=request_id, docs_url=spec.docs_url)
        host = urlsplit(links[0]).hostname
        what = f"the first file of the {spec.report} report for {day}"
        try:
            with self.client.open_download(links[0], what) as file:
                status = file.status_code
        except CopilotSourceError as exc:
            # GitHub's id of the request that handed out the link is what its support can trace
            return self._failed(spec.report, exc.annotate(request_id=request_id), spec.docs_url)
        if status != 200:
            refused = Unreachable(
                f"GitHub lists the {spec.report} report for {day}, but its file host {host} answered"
                f" {status} for {what}.",
                f"Let this machine reach {host} over HTTPS (a proxy or firewall may block it), then run"
                " the check again.",
                request_id=request_id,
                docs_url=spec.docs_url,
                endpoint=spec.report,
            )
            return self._failed(spec.report, refused)
        files = f"{len(links)} file" if len(links) == 1 else f"{len(links)} files"
        detail = f"report for {day}: {files}; the first one downloads from {host}"
        return self._result(spec.report, Status.OK, detail, request_id=request_id, docs_url=spec.docs_url)

    def _skipped(self, name: str) -> CheckResult:
        assert self.blocker is not None
        detail = f"not asked: every endpoint would fail like the one before ({self.blocker.code})"
        return self._result(name, Status.SKIPPED, detail)

    def legacy(self) -> CheckResult:
        """Only explains: the legacy endpoint is closed, and what replaced it."""
        replaced = (
            f"GitHub closed it down on {LEGACY_CLOSED_ON}; enterprise metrics now come from the"
            " enterprise-1-day report (table enterprise_metrics)."
        )
        if self.blocker is not None:
            return self._result(LEGACY, Status.INFO, f"not asked. {replaced}", docs_url=DOCS["usage_metrics"])
        try:
            response = self.client.get(self._path("metrics"), LEGACY_ENDPOINT, DOCS["usage_metrics"])
        except NoResource as exc:
            detail = f"answers 404, as expected: {replaced}"
            return self._result(LEGACY, Status.INFO, detail, request_id=exc.request_id, docs_url=DOCS["usage_metrics"])
        except CopilotSourceError as exc:
            detail = f"answered with {exc.code}; it is not used anyway: {replaced}"
            return self._result(LEGACY, Status.INFO, detail, request_id=exc.request_id, docs_url=DOCS["usage_metrics"])
        detail = f"still answers here, but this source does not use it: {replaced}"
        return self._result(
            LEGACY, Status.INFO, detail, request_id=_request_id(response), docs_url=DOCS["usage_metrics"]
        )


def _request_id(response: requests.Response) -> str | None:
    return response.headers.get("x-github-request-id")


def _budget(response: requests.Response) -> str:
    info = RateLimitInfo.from_headers(response.headers)
    if info.remaining is None or info.limit is None:
        return "GitHub sent no rate-limit headers"
    text = f"rate limit: {info.remaining} of {info.limit} requests left"
    if info.reset is not None:
        text += f" until {_clock(info.reset)}"
    return text


def _clock(epoch: float) -> str:
    try:
        return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "a time no clock shows (an absurd x-ratelimit-reset)"


def _credentials(settings: SourceSettings, client: GitHubClient) -> CheckResult:
    """Which kind of credentials the load will send: what the failures below are about."""
    if settings.github_app is not None:
        detail = f"GitHub App {settings.github_app.app_id}: one installation token per account"
    else:
        kind = token_kind(settings.access_token or "")
        detail = f"a {kind}"
        if kind == FINE_GRAINED:
            detail += " (organization endpoints only)"
    return CheckResult(CREDENTIALS, Status.INFO, detail)


def _results(settings: SourceSettings, legacy: bool, today: date) -> Iterator[CheckResult]:
    client = GitHubClient(settings, make_credentials(settings.access_token, settings.github_app))
    # no waiting on rate limits: a limited check fails at once, saying when the limit resets
    client.limiter = _NoWaiting(0.0, settings.rate_limit_min_wait)
    newest = today - timedelta(days=REPORT_DELAY_DAYS - 1)
    oldest = max(earliest_report_day(today), newest - timedelta(days=CHECK_DAYS - 1))
    shared = _Shared(days=[newest - timedelta(days=n) for n in range((newest - oldest).days + 1)])
    yield _credentials(settings, client)
    for account in settings.accounts:
        checker = _Checker(settings, client, account, shared)
        yield checker.seats()
        if account.scope is ORGANIZATION:
            yield checker.billing()
        for spec in REPORTS:
            if spec.scope is account.scope:
                yield checker.report(spec)
        yield checker.credits()
        if legacy:
            yield checker.legacy()


def check_connection(settings: SourceSettings, legacy: bool = False, today: date | None = None) -> CheckReport:
    """Ask every endpoint a load uses, for every account (and, with `legacy`, the closed legacy one)."""
    results = tuple(_results(settings, legacy, today or settings.today))
    return CheckReport(tuple(str(account) for account in settings.accounts), settings.base_url, results)


def run_check(legacy: bool = False, today: date | None = None) -> CheckReport:
    """The check `pipelines/check.py` runs: configuration first, then no request if it is wrong."""
    try:
        settings = load_settings()
    except CopilotSourceError as exc:
        return CheckReport((), None, (failed("config", exc),))
    return check_connection(settings, legacy, today)
