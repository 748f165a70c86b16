"""HTTP to GitHub: one place that decides what every response status means.

Two sessions, both dlt retrying sessions (5xx, resets and timeouts are retried with backoff,
tunable through dlt's `[runtime]` request settings): one for the API, which alone carries the
token, and one for the signed report downloads, which never does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import dlt
import requests
from dlt.common.configuration.inject import with_config
from dlt.common.configuration.specs import RuntimeConfiguration
from dlt.sources.helpers.requests import Client

from copilot_source.config import SourceSettings, check_url_scheme
from copilot_source.errors import (
    CopilotSourceError,
    InvalidCredentials,
    InvalidPermissions,
    MetricsDisabled,
    NoResource,
    RateLimited,
    Unreachable,
)
from copilot_source.ratelimit import RateLimiter, RateLimitInfo, is_rate_limited
from copilot_source.redaction import redact, register_secret, safe_url
from copilot_source.settings import DOCS, USER_AGENT

RETRY_STATUS = (500, 502, 503, 504)
ACCEPTED_SCOPES = ("manage_billing:copilot", "read:enterprise")
# a rate limit is retried this many times before the waiting ceiling is the only bound
MAX_RATE_LIMIT_ATTEMPTS = 50
# "[Errno 111] Connection refused" inside the layers of text requests wraps around a socket error
ERRNO_PATTERN = re.compile(r"\[Errno -?\d+\][^\"')]*")


def _message(response: requests.Response) -> str:
    """GitHub's `message` from an error body (or the start of a body that is not JSON)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def _scopes(value: str | None) -> list[str]:
    return [s.strip() for s in (value or "").split(",") if s.strip()]


def _forbidden(response: requests.Response, endpoint: str, docs_url: str, said: str) -> CopilotSourceError:
    """A 403 that is not a rate limit: a missing scope, a non-classic token, a role, or the policy."""
    common: dict[str, Any] = dict(request_id=response.headers.get("x-github-request-id"), endpoint=endpoint)
    token_fix = (
        "Use a classic personal access token with `manage_billing:copilot` or `read:enterprise`,"
        " held by an enterprise owner or billing manager. Fine-grained tokens do not work for"
        " enterprise endpoints."
    )
    accepted = _scopes(response.headers.get("x-accepted-oauth-scopes")) or list(ACCEPTED_SCOPES)
    if "x-oauth-scopes" in response.headers:
        has = _scopes(response.headers.get("x-oauth-scopes"))
        if not set(has) & set(accepted):
            return InvalidPermissions(
                f"The token may not read {endpoint} (403): it has the scopes [{', '.join(has) or 'none'}],"
                f" the endpoint accepts [{', '.join(accepted)}].{said}",
                token_fix,
                docs_url=DOCS["scopes"],
                **common,
            )
    if "report" in endpoint:
        return MetricsDisabled(
            f"GitHub refused {endpoint} (403) although the token may read the enterprise.{said}"
            " The enterprise's 'Copilot usage metrics' policy is probably not 'Enabled everywhere'"
            " (or the token's user lacks the 'View Enterprise Copilot Metrics' permission).",
            "An enterprise owner sets Enterprise settings > AI controls > Copilot > 'Copilot usage"
            " metrics' to 'Enabled everywhere'; reports then appear for the following days.",
            docs_url=DOCS["metrics_policy"],
            **common,
        )
    if "x-oauth-scopes" not in response.headers:
        return InvalidPermissions(
            f"GitHub refused {endpoint} (403) and named no token scopes: the token is not a classic"
            f" personal access token (fine-grained tokens cannot read enterprise endpoints).{said}",
            token_fix,
            docs_url=DOCS["tokens"],
            **common,
        )
    return InvalidPermissions(
        f"GitHub refused {endpoint} (403) although the token has an accepted scope: its user is"
        f" probably not an enterprise owner or billing manager.{said}",
        "Use a token of an enterprise owner or billing manager (classic, with"
        " `manage_billing:copilot` or `read:enterprise`).",
        docs_url=docs_url,
        **common,
    )


def error_for_response(response: requests.Response, endpoint: str, docs_url: str) -> CopilotSourceError:
    """Map a failed API response to the exception that explains it (rate limits excluded)."""
    status = response.status_code
    message = _message(response)
    said = f" GitHub said: {message!r}." if message else ""
    common: dict[str, Any] = dict(request_id=response.headers.get("x-github-request-id"), endpoint=endpoint)
    if status == 401:
        return InvalidCredentials(
            f"GitHub rejected the token (401) on {endpoint}: it is wrong, expired or revoked.{said}",
            "Create a new classic personal access token with `manage_billing:copilot` or"
            " `read:enterprise` and store it as `access_token` under [sources.copilot]"
            " (env SOURCES__COPILOT__ACCESS_TOKEN).",
            docs_url=DOCS["tokens"],
            **common,
        )
    if status == 403:
        return _forbidden(response, endpoint, docs_url, said)
    if status == 404:
        return NoResource(
            f"GitHub answered 404 for {endpoint}: the enterprise slug is wrong, or the token's"
            " user is not an owner or billing manager of it (GitHub hides what you may not see).",
            "Check `enterprise` under [sources.copilot] (the slug in"
            " https://github.com/enterprises/<slug>) and that the token's user has that role.",
            docs_url=docs_url,
            **common,
        )
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("location", "")).hostname or "unknown host"
        return Unreachable(
            f"GitHub redirected {endpoint} ({status}) to {target}; the token is never sent across"
            " redirects, so the request was not followed.",
            "Check `base_url` under [sources.copilot]: it must be the API host itself"
            " (https://api.github.com, or https://api.<subdomain>.ghe.com).",
            docs_url=DOCS["troubleshooting"],
            **common,
        )
    return Unreachable(
        f"GitHub answered {status} for {endpoint} after retries.{said}",
        "GitHub may be having trouble (https://www.githubstatus.com); run again later.",
        docs_url=DOCS["troubleshooting"],
        **common,
    )


def _network_problem(exc: Exception) -> str:
    """What went wrong on the way to a host, in words (requests folds it all into a few types)."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed (a certificate problem, or a proxy intercepting TLS)"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy refused or failed the connection"
    if isinstance(exc, requests.exceptions.Timeout):
        return "the connection timed out"
    if any(s in text for s in ("NameResolutionError", "Failed to resolve", "Name or service not known", "getaddrinfo")):
        return "the host name does not resolve (DNS)"
    if "refused" in text.lower():
        return "the connection was refused"
    if "reset" in text.lower() or "aborted" in text.lower():
        return "the connection was dropped"
    return "the connection failed"


def _connection_error(exc: Exception, url: str, endpoint: str) -> Unreachable:
    host = urlsplit(url).hostname or url
    reason = ERRNO_PATTERN.search(str(exc))
    detail = reason.group(0) if reason else redact(str(exc))[:300]
    return Unreachable(
        f"Could not reach {host} for {endpoint}: {_network_problem(exc)} ({type(exc).__name__}: {detail}).",
        f"Check the network, DNS, proxy (HTTPS_PROXY) and TLS settings for {host}, and"
        " `base_url` under [sources.copilot].",
        docs_url=DOCS["troubleshooting"],
        endpoint=endpoint,
    )


@with_config(spec=RuntimeConfiguration)
def _runtime(config: RuntimeConfiguration = dlt.config.value) -> RuntimeConfiguration:
    """dlt's `[runtime]` settings, whose `request_*` values govern every retry."""
    return config


class GitHubClient:
    """Requests to one enterprise's API host, with GitHub's rate-limit rules applied."""

    def __init__(self, settings: SourceSettings) -> None:
        self.settings = settings
        self.api_host = urlsplit(settings.base_url).netloc
        register_secret(settings.access_token)
        self._auth = f"Bearer {settings.access_token}"
        self.limiter = RateLimiter(settings.rate_limit_max_wait, settings.rate_limit_min_wait)
        self._api = self._retrying_client()
        self._files = self._retrying_client()
        runtime = _runtime()
        self._backoff = (float(runtime.request_backoff_factor), float(runtime.request_max_retry_delay))

    @staticmethod
    def _retrying_client() -> Client:
        client = Client(raise_for_status=False, status_codes=RETRY_STATUS)
        client.configure()  # dlt's [runtime] request_* settings
        return client

    def retry_delay(self, attempt: int) -> float:
        """Backoff before retry `attempt` (1, 2, ...) of a download, as dlt backs off requests."""
        factor, ceiling = self._backoff
        return float(min(factor * 2.0 ** min(attempt - 1, 32), ceiling))

    def api_url(self, path: str) -> str:
        return f"{self.settings.base_url}/{path.lstrip('/')}"

    def _send_api(self, url: str, params: Mapping[str, Any] | None, endpoint: str) -> requests.Response:
        if urlsplit(url).netloc != self.api_host:
            # pagination links must stay on the API host: the token goes nowhere else
            raise Unreachable(
                f"GitHub pointed {endpoint} at another host ({urlsplit(url).hostname}); the token"
                " is only ever sent to the configured API host.",
                "Check `base_url` under [sources.copilot].",
                endpoint=endpoint,
            )
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": self.settings.api_version,
            "User-Agent": USER_AGENT,
            "Authorization": self._auth,
        }
        failure: Exception | None = None
        try:
            return self._api.session.get(url, params=params, headers=headers, allow_redirects=False)
        except requests.RequestException as exc:
            failure = exc
        # raised outside the except block, so no traceback chains the original exception text
        raise _connection_error(failure, url, endpoint)

    def get(
        self,
        path_or_url: str,
        endpoint: str,
        docs_url: str,
        params: Mapping[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> requests.Response | None:
        """GET an API resource; `None` for 404/204 when `missing_ok` (a report day not there)."""
        url = path_or_url if "://" in path_or_url else self.api_url(path_or_url)
        for attempt in range(MAX_RATE_LIMIT_ATTEMPTS):
            self.limiter.before_request()
            response = self._send_api(url, params, endpoint)
            info = RateLimitInfo.from_headers(response.headers)
            self.limiter.observe(info)
            status = response.status_code
            if status == 200:
                return response
            if missing_ok and status in (204, 404):
                return None
            if is_rate_limited(status, info, _message(response)):
                try:
                    self.limiter.on_rate_limited(info, attempt, endpoint)
                except RateLimited as exc:
                    request_id = response.headers.get("x-github-request-id")
                    raise exc.annotate(request_id=request_id, endpoint=endpoint) from None
                continue
            raise error_for_response(response, endpoint, docs_url)
        raise RateLimited(
            f"GitHub rate-limited {endpoint} {MAX_RATE_LIMIT_ATTEMPTS} times in a row.",
            "Run again later, or lower `concurrency` under [sources.copilot].",
            request_id=response.headers.get("x-github-request-id"),
            docs_url=DOCS["rate_limits"],
            endpoint=endpoint,
        )

    def open_download(self, url: str, what: str) -> requests.Response:
        """Start streaming a signed report file: no Authorization header, ever."""
        check_url_scheme(url, f"The download link for {what}")
        failure: Exception | None = None
        try:
            return self._files.session.get(
                url,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"},
                stream=True,
            )
        except requests.RequestException as exc:
            failure = exc
        raise _connection_error(failure, safe_url(url), what)
