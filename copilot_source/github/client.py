"""HTTP to GitHub: API requests with the token and GitHub's rate-limit rules, and downloads without.

Two sessions, both dlt retrying sessions (5xx, resets and timeouts are retried with backoff,
tunable through dlt's `[runtime]` request settings, and each retry is logged): one for the API,
which alone carries the token and only to the configured scheme, host and port, and one for the
signed report downloads, which never does and whose redirects are followed here, hop by hop.
Every attempt runs under a deadline (`transport.py`). What a failed answer means is decided in
`responses.py`; which URLs may be asked, in `urls.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urljoin

import dlt
import requests
from dlt.common.configuration.inject import with_config
from dlt.common.configuration.specs import RuntimeConfiguration
from requests.auth import AuthBase

from copilot_source.config import SourceSettings, config_key
from copilot_source.declarations import DOCS, NO_DATA_STATUSES
from copilot_source.errors import RateLimited, Unreachable
from copilot_source.github.auth import Credentials, GitHubApp, PersonalToken, bad_app_key
from copilot_source.github.ratelimit import RateLimiter, RateLimitInfo, is_rate_limited
from copilot_source.github.redaction import redact
from copilot_source.github.responses import error_for_response, github_message, json_object
from copilot_source.github.transport import (
    DeadlineExceeded,
    PeerRefused,
    RetryingClient,
    Transfer,
    network_problem,
    transfer,
)
from copilot_source.github.urls import (
    Origin,
    address_problem,
    describe,
    download_url_problem,
    host_of,
    origin,
    parse,
    token_url_problem,
)

USER_AGENT = "copilot-source (dlt source; +https://github.com/)"

# a rate limit is retried this many times before the waiting ceiling is the only bound
MAX_RATE_LIMIT_ATTEMPTS = 50
# new installation tokens one request may ask for after a 401 (a suspended installation refuses each)
TOKEN_RENEWALS = 3
# redirects a download may take to its file (the links point at a file host already)
MAX_DOWNLOAD_REDIRECTS = 5
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# "[Errno 111] Connection refused" inside the layers of text requests wraps around a socket error
ERRNO_PATTERN = re.compile(r"\[Errno -?\d+\][^\"')]*")


class _Bearer(AuthBase):
    """The token, as requests applies auth: explicit, so a ~/.netrc entry never replaces it."""

    def __init__(self, header: str) -> None:
        self.header = header

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.header
        return request


def scope_of(url: str) -> tuple[str, str] | None:
    """("enterprise", slug) or ("organization", login) from an API URL's path; None for others."""
    segments = [s for s in (parse(url).path or "").split("/") if s]
    for index, segment in enumerate(segments[:-1]):
        if segment == "enterprises":
            return "enterprise", segments[index + 1]
        if segment in ("orgs", "organizations"):
            return "organization", segments[index + 1]
    return None


class _NoAuth(AuthBase):
    """No credential at all on downloads, not even one requests would take from ~/.netrc."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


def _connection_error(exc: Exception, url: str, endpoint: str) -> Unreachable:
    host = host_of(url)
    reason = ERRNO_PATTERN.search(str(exc))
    detail = reason.group(0) if reason else redact(str(exc))[:300]
    return Unreachable(
        f"Could not reach {host} for {endpoint}: {network_problem(exc)} ({type(exc).__name__}: {detail}).",
        f"Check the network, DNS, proxy (HTTPS_PROXY) and TLS settings for {host}, and"
        " `base_url` under [sources.copilot].",
        docs_url=DOCS["troubleshooting"],
        endpoint=endpoint,
    )


def deadline_error(what: str, host: str, seconds: float, key: str) -> Unreachable:
    """A transfer that did not finish in time: a server trickling its answer, or a far too slow link."""
    return Unreachable(
        f"{host} did not finish sending {what} within {seconds:g} s; the transfer was stopped.",
        f"If the network is merely slow, raise {config_key(key)}; a server that trickles its answer"
        " is stopped by it on purpose.",
        docs_url=DOCS["troubleshooting"],
        endpoint=what,
    )


def _said(response: requests.Response) -> str:
    message = github_message(response)
    return f" GitHub said: {message!r}." if message else ""


@with_config(spec=RuntimeConfiguration)
def _runtime(config: RuntimeConfiguration = dlt.config.value) -> RuntimeConfiguration:
    """dlt's `[runtime]` settings, whose `request_*` values govern every retry."""
    return config


class GitHubClient:
    """Requests to one enterprise's API host, with GitHub's rate-limit rules applied."""

    def __init__(self, settings: SourceSettings, credentials: Credentials | None = None) -> None:
        self.settings = settings
        # validated by `validate_settings`: the one scheme, host and port the token is sent to
        self.api_origin: Origin = origin(parse(settings.base_url))
        if credentials is None:
            assert settings.access_token, "validate_settings requires a token or a GitHub App"
            credentials = PersonalToken(settings.access_token)
        self.credentials = credentials
        if isinstance(credentials, GitHubApp):
            credentials.connect(self.app_request)
        # what a run looks up once and uses from several resources (an organization's id)
        self.memo: dict[str, Any] = {}
        self.limiter = RateLimiter(settings.rate_limit_max_wait, settings.rate_limit_min_wait)
        self._api = RetryingClient(settings.api_deadline)
        self._files = RetryingClient(settings.download_deadline)
        runtime = _runtime()
        self._backoff = (float(runtime.request_backoff_factor), float(runtime.request_max_retry_delay))

    def _kind(self, scope: tuple[str, str] | None) -> str | None:
        return self.credentials.kind(*scope) if scope else None

    def retry_delay(self, attempt: int) -> float:
        """Backoff before retry `attempt` (1, 2, ...) of a download, as dlt backs off requests."""
        factor, ceiling = self._backoff
        return float(min(factor * 2.0 ** min(attempt - 1, 32), ceiling))

    def api_url(self, path: str) -> str:
        return f"{self.settings.base_url}/{path.lstrip('/')}"

    def _check_token_url(self, url: str, endpoint: str) -> None:
        """Refuse any URL the token would travel to that is not the API's own scheme, host and port."""
        problem = token_url_problem(url, self.api_origin)
        if problem:
            # pagination links must stay on the API's scheme, host and port: the token goes nowhere else
            raise Unreachable(
                f"GitHub pointed {endpoint} at {describe(url)}, which the token is never sent to: {problem}.",
                "Check `base_url` under [sources.copilot]: it must be the API host itself"
                " (https://api.github.com, or https://api.<subdomain>.ghe.com), and no proxy may rewrite"
                " GitHub's links.",
                docs_url=DOCS["troubleshooting"],
                endpoint=endpoint,
            )

    def _authorization(self, url: str, endpoint: str) -> str:
        """The Authorization header for `url`: the PAT, or the installation token of its scope."""
        scope = scope_of(url)
        if scope is None:
            raise AssertionError(f"{endpoint}: an API path outside an enterprise or organization")
        return self.credentials.authorization(*scope)

    def _send_api(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        endpoint: str,
        authorization: str,
        method: str = "GET",
        body: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": self.settings.api_version,
            "User-Agent": USER_AGENT,
        }
        failure: Exception | None = None
        try:
            return self._api.session.request(
                method,
                url,
                params=params,
                json=body,
                headers=headers,
                auth=_Bearer(authorization),
                allow_redirects=False,
            )
        except DeadlineExceeded as exc:
            raise deadline_error(
                f"its answer to {endpoint}", self.api_origin.host, exc.seconds, "api_deadline"
            ) from None
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
        """GET something that may not exist yet (a report day): None when GitHub answers `absent`,
        or a 200 whose body is only a message such as "Report is being generated"."""
        return self._get(path_or_url, endpoint, docs_url, params, absent, not_ready_allowed=True)

    def _get(
        self,
        path_or_url: str,
        endpoint: str,
        docs_url: str,
        params: Mapping[str, Any] | None,
        absent: tuple[int, ...],
        not_ready_allowed: bool = False,
    ) -> requests.Response | None:
        url = path_or_url if "://" in path_or_url else self.api_url(path_or_url)
        response = self._request("GET", url, endpoint, docs_url, params=params, accept=(200, *absent))
        if response.status_code in absent:
            return None
        if json_object(response, endpoint, not_ready_allowed=not_ready_allowed) is None:
            return None
        return response

    def get_json(
        self, path_or_url: str, endpoint: str, docs_url: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """GET an API resource whose answer must be a JSON object."""
        response = self.get(path_or_url, endpoint, docs_url, params)
        found = json_object(response, endpoint, not_ready_allowed=False)
        assert found is not None
        return found

    def post_json(
        self, path: str, body: Mapping[str, Any], endpoint: str, docs_url: str, accept: tuple[int, ...] = (409,)
    ) -> tuple[int, Any]:
        """POST a JSON body; the status and JSON answer of a 2xx or of a status in `accept`."""
        response = self._request(
            "POST", self.api_url(path), endpoint, docs_url, body=body, accept=(200, 201, 202, *accept)
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    def app_request(self, method: str, path: str, jwt: str, endpoint: str) -> Any:
        """A GitHub App's own request (its installations, an installation token), signed by its JWT."""
        response = self._request(
            method, self.api_url(path), endpoint, DOCS["apps"], authorization=f"Bearer {jwt}", accept=(200, 201)
        )
        return json_object(response, endpoint, not_ready_allowed=False)

    def _request(
        self,
        method: str,
        url: str,
        endpoint: str,
        docs_url: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        authorization: str | None = None,
        accept: tuple[int, ...] = (200,),
    ) -> requests.Response:
        """Send under GitHub's rate-limit rules; a status outside `accept` raises what explains it.

        A 401 with an installation token that expired under way is retried with a new one, up to
        `TOKEN_RENEWALS` times: requests side by side may find the token they were given refused too.
        """
        self._check_token_url(url, endpoint)
        refused: set[str] = set()
        for attempt in range(MAX_RATE_LIMIT_ATTEMPTS):
            header = authorization or self._authorization(url, endpoint)
            self.limiter.before_request()
            response = self._send_api(url, params, endpoint, header, method, body)
            info = RateLimitInfo.from_headers(response.headers)
            self.limiter.observe(info)
            status = response.status_code
            if status in accept:
                return response
            if is_rate_limited(status, info, github_message(response)):
                try:
                    self.limiter.on_rate_limited(info, attempt, endpoint)
                except RateLimited as exc:
                    request_id = response.headers.get("x-github-request-id")
                    raise exc.annotate(request_id=request_id, endpoint=endpoint) from None
                continue
            scope = scope_of(url)
            if status == 401 and authorization is None and scope and header not in refused:
                refused.add(header)
                if len(refused) <= TOKEN_RENEWALS and self.credentials.renew(*scope, header):
                    continue
            if status == 401 and authorization is not None:
                raise bad_app_key(endpoint, _said(response))
            raise error_for_response(response, endpoint, docs_url, scope=scope, kind=self._kind(scope))
        raise RateLimited(
            f"GitHub rate-limited {endpoint} {MAX_RATE_LIMIT_ATTEMPTS} times in a row.",
            "Run again later, or lower `concurrency` under [sources.copilot].",
            request_id=response.headers.get("x-github-request-id"),
            docs_url=DOCS["rate_limits"],
            endpoint=endpoint,
        )

    @contextmanager
    def download(self, url: str, what: str) -> Iterator[tuple[requests.Response, Transfer]]:
        """A signed report file's answer, its body not yet read, and the transfer that bounds
        reading it (`download_deadline` for all hops and the body together)."""
        with (
            transfer(self.settings.download_deadline, address_problem) as bounded,
            self.open_download(url, what) as response,
        ):
            yield response, bounded

    def open_download(self, url: str, what: str) -> requests.Response:
        """Start streaming a signed report file: no Authorization header, ever, and each redirect
        followed only where a file may come from (see `urls.download_url_problem`)."""
        previous: Origin | None = None
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            problem = download_url_problem(url, self.api_origin, previous)
            if problem:
                raise self._refused(url, what, problem, redirected=previous is not None)
            try:
                with transfer(self.settings.download_deadline, address_problem):
                    response = self._send_file(url, what)
            except PeerRefused as exc:
                # the name resolved to an address no report file comes from
                raise self._refused(url, what, str(exc), redirected=previous is not None) from None
            location = response.headers.get("location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return response
            response.close()
            previous = origin(parse(url))
            url = urljoin(url, location)
        raise Unreachable(
            f"Downloading {what} from {host_of(url)} took more than {MAX_DOWNLOAD_REDIRECTS} redirects.",
            "A proxy or the file host is redirecting in a loop; run again later, or report it to GitHub support.",
            docs_url=DOCS["troubleshooting"],
            endpoint=what,
        )

    def _send_file(self, url: str, what: str) -> requests.Response:
        failure: Exception | None = None
        try:
            return self._files.session.get(
                url,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"},
                auth=_NoAuth(),
                stream=True,
                allow_redirects=False,
            )
        except DeadlineExceeded as exc:
            raise deadline_error(what, host_of(url), exc.seconds, "download_deadline") from None
        except requests.RequestException as exc:
            failure = exc
        raise _connection_error(failure, url, what)

    @staticmethod
    def _refused(url: str, what: str, problem: str, redirected: bool) -> Unreachable:
        how = "was redirected to" if redirected else "points at"
        return Unreachable(
            f"The download of {what} {how} {describe(url)}, where report files never come from: {problem}."
            " It was not followed.",
            "A proxy or gateway may be rewriting downloads: let this machine reach GitHub's file host"
            " directly over HTTPS, or report the request id to GitHub support.",
            docs_url=DOCS["troubleshooting"],
            endpoint=what,
        )
