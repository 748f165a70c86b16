"""HTTP to GitHub: API requests with the token and GitHub's rate-limit rules, and downloads without.

Two sessions, both dlt retrying sessions (5xx, resets and timeouts are retried with backoff,
tunable through dlt's `[runtime]` request settings): one for the API, which alone carries the
token, and one for the signed report downloads, which never does. What a failed answer means
is decided in `responses.py`.
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
from copilot_source.declarations import DOCS, NO_DATA_STATUSES
from copilot_source.errors import RateLimited, Unreachable
from copilot_source.github.ratelimit import RateLimiter, RateLimitInfo, is_rate_limited
from copilot_source.github.redaction import redact, register_secret, safe_url
from copilot_source.github.responses import error_for_response, github_message

USER_AGENT = "copilot-source (dlt source; +https://github.com/)"

RETRY_STATUS = (500, 502, 503, 504)
# a rate limit is retried this many times before the waiting ceiling is the only bound
MAX_RATE_LIMIT_ATTEMPTS = 50
# "[Errno 111] Connection refused" inside the layers of text requests wraps around a socket error
ERRNO_PATTERN = re.compile(r"\[Errno -?\d+\][^\"')]*")


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
        self, path_or_url: str, endpoint: str, docs_url: str, params: Mapping[str, Any] | None = None
    ) -> requests.Response:
        """GET an API resource: its 200 answer, or the exception that explains any other."""
        response = self._get(path_or_url, endpoint, docs_url, params, ())
        assert response is not None
        return response

    def get_if_present(
        self,
        path_or_url: str,
        endpoint: str,
        docs_url: str,
        params: Mapping[str, Any] | None = None,
        absent: tuple[int, ...] = NO_DATA_STATUSES,
    ) -> requests.Response | None:
        """GET something that may not exist yet (a report day): None when GitHub answers `absent`."""
        return self._get(path_or_url, endpoint, docs_url, params, absent)

    def _get(
        self,
        path_or_url: str,
        endpoint: str,
        docs_url: str,
        params: Mapping[str, Any] | None,
        absent: tuple[int, ...],
    ) -> requests.Response | None:
        url = path_or_url if "://" in path_or_url else self.api_url(path_or_url)
        for attempt in range(MAX_RATE_LIMIT_ATTEMPTS):
            self.limiter.before_request()
            response = self._send_api(url, params, endpoint)
            info = RateLimitInfo.from_headers(response.headers)
            self.limiter.observe(info)
            status = response.status_code
            if status == 200:
                return response
            if status in absent:
                return None
            if is_rate_limited(status, info, github_message(response)):
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
