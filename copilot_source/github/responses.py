"""What a GitHub API answer means: the one place that turns a status into an exception, and a
200 into the JSON object it must hold (or "not yet available", or an error naming the endpoint).

Rate limits are recognised in `ratelimit.py` and retried by the client before this is asked;
what is left is a failure that names its cause and its fix.
"""

from __future__ import annotations

from typing import Any

import requests

from copilot_source.declarations import DOCS
from copilot_source.errors import (
    CopilotSourceError,
    InvalidCredentials,
    InvalidPermissions,
    NoResource,
    Unreachable,
    metrics_disabled,
)
from copilot_source.github.urls import host_of

ACCEPTED_SCOPES = ("manage_billing:copilot", "read:enterprise")


def github_message(response: requests.Response) -> str:
    """GitHub's `message` from an error body (or the start of a body that is not JSON)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def _body_kind(response: requests.Response, body: Any) -> str:
    if not response.content.strip():
        return "an empty body"
    if body is _NOT_JSON:
        start = response.content.lstrip()[:15].lower()
        if start.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
            return "an HTML or XML page (often a proxy's or a captive portal's)"
        return "text that is not JSON"
    names = {list: "array", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return f"a JSON {names.get(type(body), 'value')}"


_NOT_JSON = object()


def json_object(response: requests.Response, endpoint: str, not_ready_allowed: bool) -> dict[str, Any] | None:
    """The JSON object of a 200 answer. A bare JSON string ("Report is being generated") is None
    where "not yet available" is a possible answer; any other body is an error naming `endpoint`."""
    try:
        body: Any = response.json()
    except ValueError:
        body = _NOT_JSON
    if isinstance(body, dict):
        return body
    if isinstance(body, str) and not_ready_allowed:
        return None
    said = f" GitHub said: {body[:200]!r}." if isinstance(body, str) else ""
    raise Unreachable(
        f"GitHub answered {endpoint} with {_body_kind(response, body)} instead of a JSON object"
        f" (status 200, Content-Type {response.headers.get('content-type') or 'none'}).{said}",
        "A proxy between this machine and GitHub may be answering in its place: check HTTPS_PROXY"
        " and `base_url` under [sources.copilot]; if GitHub itself answers so, run again later.",
        request_id=response.headers.get("x-github-request-id"),
        docs_url=DOCS["troubleshooting"],
        endpoint=endpoint,
    )


def report_links(response: requests.Response, endpoint: str) -> list[str]:
    """The signed file links of a report answer: a list of strings, possibly empty."""
    body = json_object(response, endpoint, not_ready_allowed=False) or {}
    links = body.get("download_links")
    if links is None:
        return []
    if not isinstance(links, list) or not all(isinstance(link, str) for link in links):
        raise Unreachable(
            f"GitHub answered {endpoint} with `download_links` that are not a list of URLs.",
            "Run again later; if it persists, report the request id to GitHub support.",
            request_id=response.headers.get("x-github-request-id"),
            docs_url=DOCS["troubleshooting"],
            endpoint=endpoint,
        )
    return links


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
        return metrics_disabled(
            f"GitHub refused {endpoint} (403) although the token may read the enterprise.{said}", **common
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
    message = github_message(response)
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
        target = host_of(response.headers.get("location", ""))
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
