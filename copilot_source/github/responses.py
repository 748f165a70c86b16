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
from copilot_source.github.auth import FINE_GRAINED, INSTALLATION
from copilot_source.github.urls import host_of


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


# classic token scopes each scope's endpoints accept, and who must hold the token (GitHub's docs)
CLASSIC_SCOPES = {
    "enterprise": ("manage_billing:copilot", "read:enterprise"),
    "organization": ("manage_billing:copilot", "read:org"),
}
ROLES = {
    "enterprise": "an enterprise owner or billing manager",
    "organization": "an organization owner (or a custom role that may view Copilot metrics)",
}


def token_fix(scope: str) -> str:
    """What to authenticate with, for one scope's endpoints."""
    if scope == "organization":
        return (
            "Use a classic personal access token with `read:org` and `manage_billing:copilot` held by an"
            " organization owner; or a fine-grained token (or GitHub App installed on the organization) with"
            " the organization permissions 'Organization Copilot metrics' and 'GitHub Copilot Business' (read)."
        )
    return (
        "Use a classic personal access token with `manage_billing:copilot` or `read:enterprise`, held by an"
        " enterprise owner or billing manager (fine-grained tokens cannot read enterprise endpoints), or a"
        " GitHub App installed on the enterprise account with 'Enterprise Copilot metrics' (read)."
    )


def _where(scope: tuple[str, str] | None) -> tuple[str, str]:
    """(scope kind, a phrase naming it) for messages; enterprise when the URL named none."""
    if scope is None:
        return "enterprise", "the enterprise"
    return scope[0], f"{scope[0]} {scope[1]!r}"


def _forbidden(
    response: requests.Response,
    endpoint: str,
    docs_url: str,
    said: str,
    scope: tuple[str, str] | None,
    kind: str | None,
) -> CopilotSourceError:
    """A 403 that is not a rate limit: a missing scope or permission, a token type, a role, the policy."""
    common: dict[str, Any] = dict(request_id=response.headers.get("x-github-request-id"), endpoint=endpoint)
    scope_kind, where = _where(scope)
    if kind == FINE_GRAINED and scope_kind == "enterprise":
        return InvalidPermissions(
            f"GitHub refused {endpoint} (403): the token is a fine-grained personal access token, and GitHub"
            f" refuses those at enterprise scope.{said}",
            token_fix("enterprise"),
            docs_url=DOCS["tokens"],
            **common,
        )
    accepted = _scopes(response.headers.get("x-accepted-oauth-scopes")) or list(CLASSIC_SCOPES[scope_kind])
    if "x-oauth-scopes" in response.headers:
        has = _scopes(response.headers.get("x-oauth-scopes"))
        if not set(has) & set(accepted):
            return InvalidPermissions(
                f"The token may not read {endpoint} (403): it has the scopes [{', '.join(has) or 'none'}],"
                f" the endpoint accepts [{', '.join(accepted)}].{said}",
                token_fix(scope_kind),
                docs_url=DOCS["scopes"],
                **common,
            )
    if "report" in endpoint:
        refused = f"GitHub refused {endpoint} (403) although the token may read {where}.{said}"
        return metrics_disabled(refused, scope=scope_kind, **common)
    if kind in (INSTALLATION, FINE_GRAINED):
        return InvalidPermissions(
            f"GitHub refused {endpoint} (403): the {kind} lacks a permission on {where}.{said}",
            token_fix(scope_kind),
            docs_url=docs_url,
            **common,
        )
    if "x-oauth-scopes" not in response.headers:
        return InvalidPermissions(
            f"GitHub refused {endpoint} (403) and named no token scopes: the token is not a classic"
            f" personal access token.{said}",
            token_fix(scope_kind),
            docs_url=DOCS["tokens"],
            **common,
        )
    return InvalidPermissions(
        f"GitHub refused {endpoint} (403) although the token has an accepted scope: its user is"
        f" probably not {ROLES[scope_kind]} of {where}.{said}",
        f"Use a token of {ROLES[scope_kind]}. {token_fix(scope_kind)}",
        docs_url=docs_url,
        **common,
    )


def error_for_response(
    response: requests.Response,
    endpoint: str,
    docs_url: str,
    scope: tuple[str, str] | None = None,
    kind: str | None = None,
) -> CopilotSourceError:
    """Map a failed API response to the exception that explains it (rate limits excluded).

    `scope` is the enterprise or organization the URL names, `kind` the kind of token sent.
    """
    status = response.status_code
    message = github_message(response)
    said = f" GitHub said: {message!r}." if message else ""
    common: dict[str, Any] = dict(request_id=response.headers.get("x-github-request-id"), endpoint=endpoint)
    scope_kind, where = _where(scope)
    if status == 401:
        if kind == INSTALLATION:
            return InvalidCredentials(
                f"GitHub rejected the GitHub App's installation token (401) on {endpoint}, also after asking"
                f" for a new one: the App's installation on {where} may have been suspended or removed.{said}",
                "Check the App's installation in the account's settings (Settings > GitHub Apps).",
                docs_url=DOCS["apps"],
                **common,
            )
        return InvalidCredentials(
            f"GitHub rejected the token (401) on {endpoint}: it is wrong, expired or revoked.{said}",
            f"Create a new token and store it as `access_token` under [sources.copilot]"
            f" (env SOURCES__COPILOT__ACCESS_TOKEN). {token_fix(scope_kind)}",
            docs_url=DOCS["tokens"],
            **common,
        )
    if status == 403:
        return _forbidden(response, endpoint, docs_url, said, scope, kind)
    if status == 404:
        key = "organizations" if scope_kind == "organization" else "enterprise"
        return NoResource(
            f"GitHub answered 404 for {endpoint}: {where} does not exist, or the token's user is not"
            f" {ROLES[scope_kind]} of it (GitHub hides what you may not see).",
            f"Check `{key}` under [sources.copilot] and that the token's user has that role.",
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
