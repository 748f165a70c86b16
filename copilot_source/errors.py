"""The exceptions the source raises: one base class, one subclass per failure code.

A caller embedding the source catches `CopilotSourceError` (or one code) around `pipeline.run`;
dlt wraps it in `PipelineStepFailed`, and `find_source_error` digs it out again. Every message
is redacted: it never holds a token or a signed download URL.
"""

from __future__ import annotations

import errno
from typing import Any

from copilot_source.github.redaction import redact

# errnos of a local write that failed: the disk or the folder, not the network (a retry cannot help)
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
NOT_WRITABLE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST})


class CopilotSourceError(Exception):
    """Base class: a failure with a code, its cause and the fix."""

    code = "error"

    def __init__(
        self,
        cause: str,
        fix: str = "",
        *,
        request_id: str | None = None,
        docs_url: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.cause = redact(cause)
        self.fix = redact(fix)
        self.request_id = request_id
        self.docs_url = docs_url
        self.endpoint = endpoint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [f"[{self.code}] {self.cause}"]
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        if self.request_id:
            parts.append(f"GitHub request id: {self.request_id}")
        if self.docs_url:
            parts.append(f"Docs: {self.docs_url}")
        return " ".join(parts)

    def annotate(self, *, request_id: str | None = None, endpoint: str | None = None) -> CopilotSourceError:
        """Add what the raiser could not know, e.g. the request id of the response behind it."""
        self.request_id = self.request_id or request_id
        self.endpoint = self.endpoint or endpoint
        self.args = (self.message,)
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "cause": self.cause,
            "fix": self.fix,
            "request_id": self.request_id,
            "docs_url": self.docs_url,
            "endpoint": self.endpoint,
        }


class ConfigurationError(CopilotSourceError):
    """A config value is missing or malformed; found before any request is made."""

    code = "invalid_config"


class InvalidCredentials(CopilotSourceError):
    """401: the token is wrong, expired or revoked."""

    code = "invalid_credentials"


class InvalidPermissions(CopilotSourceError):
    """403 that is not a rate limit: the token lacks a scope or its user lacks a role."""

    code = "invalid_permissions"


class NoResource(CopilotSourceError):
    """404 on the enterprise: wrong slug, or the token's user may not see it."""

    code = "no_resource"


class MetricsDisabled(CopilotSourceError):
    """Seats answer but the usage reports are refused: the metrics policy is off."""

    code = "metrics_disabled"


METRICS_POLICY_DOCS = "https://docs.github.com/enterprise-cloud@latest/copilot/how-tos/administer-copilot/manage-for-enterprise/manage-enterprise-policies"


def metrics_disabled(
    what_happened: str,
    *,
    scope: str = "enterprise",
    request_id: str | None = None,
    endpoint: str | None = None,
) -> MetricsDisabled:
    """The one explanation of a switched-off 'Copilot usage metrics' policy, after what was seen."""
    if scope == "organization":
        cause = (
            " The 'Copilot usage metrics' policy is probably not enabled for the organization (by its"
            " enterprise, or by the organization itself when it has no enterprise), or the token lacks"
            " 'Organization Copilot metrics' (or `read:org`), or Copilot was first used less than three"
            " days ago."
        )
        fix = (
            "An owner enables 'Copilot usage metrics' (enterprise: AI controls > Copilot; standalone"
            " organization: Settings > Copilot > Policies); reports then appear for the following days."
        )
    else:
        cause = (
            " The enterprise's 'Copilot usage metrics' policy is probably not 'Enabled everywhere' (or the"
            " token's user lacks the 'View Enterprise Copilot Metrics' permission, or Copilot was first"
            " used less than three days ago)."
        )
        fix = (
            "An enterprise owner sets Enterprise settings > AI controls > Copilot > 'Copilot usage"
            " metrics' to 'Enabled everywhere'; reports then appear for the following days."
        )
    return MetricsDisabled(
        f"{what_happened}{cause}", fix, request_id=request_id, docs_url=METRICS_POLICY_DOCS, endpoint=endpoint
    )


class RateLimited(CopilotSourceError):
    """GitHub's rate limit outlasted the configured ceiling on waiting."""

    code = "rate_limited"


class Unreachable(CopilotSourceError):
    """DNS, TLS, connection, proxy or persistent server failure."""

    code = "unreachable"


class ReportDataError(CopilotSourceError):
    """A report file holds a line that is not valid JSON or lacks its key fields."""

    code = "bad_report_data"


class SeatDataError(CopilotSourceError):
    """The seat list is not one complete snapshot: it changed while read, or GitHub's pages
    contradict themselves (counts that disagree, links that loop or run on)."""

    code = "bad_seat_data"


class RunInProgress(CopilotSourceError):
    """Another run of the same pipeline holds the lock."""

    code = "run_in_progress"


class AnalyticsFailed(CopilotSourceError):
    """The analytics views could not be made, or the report has nothing to show."""

    code = "analytics_failed"


class Interrupted(CopilotSourceError):
    """Ctrl-C (SIGINT) or SIGTERM stopped the run; the next run completes the data."""

    code = "interrupted"
    # the signal that stopped the run (SIGINT = 2); scripts exit with 128 + it
    signum = 2


class DiskFull(CopilotSourceError):
    """A write failed for lack of space: a full disk, a quota, or a file-size limit."""

    code = "disk_full"


class NotWritable(CopilotSourceError):
    """A folder or file the run must write to refuses it: permissions, a read-only disk, a file in the way."""

    code = "not_writable"


class DestinationLocked(CopilotSourceError):
    """Another process holds the DuckDB file's write lock."""

    code = "destination_locked"


class MissingDependency(CopilotSourceError):
    """A package the configured destination (or option) needs is not installed."""

    code = "missing_dependency"


class PipelineFailed(CopilotSourceError):
    """A failure the source cannot name more precisely (e.g. the destination refused a load)."""

    code = "pipeline_failed"


def find_source_error(exc: BaseException) -> CopilotSourceError | None:
    """The `CopilotSourceError` inside `exc` (dlt wraps resource errors several times)."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, CopilotSourceError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
