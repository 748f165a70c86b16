"""Fetch one report day: ask GitHub for its links, then stream every file to disk, whole.

A day is only handed on once all of its files are complete: a truncated file is downloaded
again, and an expired link (403 from the file host) is replaced by asking GitHub for fresh
links. The files are streamed in pieces and never held in memory; each is bounded in bytes,
line length and time (`body.py`), and a file over a bound fails the run without a retry.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import requests
import urllib3
from dlt.common import logger

from copilot_source.config import SourceSettings, config_key
from copilot_source.declarations import DOCS, Report
from copilot_source.errors import DISK_FULL_ERRNOS, NOT_WRITABLE_ERRNOS, ReportDataError, Unreachable
from copilot_source.github.client import GitHubClient, deadline_error
from copilot_source.github.responses import report_links
from copilot_source.github.transport import DeadlineExceeded
from copilot_source.github.urls import host_of
from copilot_source.reports.body import (
    BadGzip,
    LastLineCut,
    Limits,
    OverLimit,
    Truncated,
    UnknownEncoding,
    save_body,
)
from copilot_source.reports.layout import bad_line_error

# a local write that failed: raised as it is, for the run to explain (disk full, not writable)
LOCAL_WRITE = DISK_FULL_ERRNOS | NOT_WRITABLE_ERRNOS

DOWNLOAD_ATTEMPTS = 5
LINK_REFRESHES = 3
# what a transfer that broke off mid-body raises, below requests
TRANSFER_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


class LinkExpired(Exception):
    """The file host refused a signed link: ask GitHub for fresh ones."""


@dataclass
class ReportDay:
    """One downloaded day: its files on disk, in GitHub's order."""

    report: Report
    day: date
    files: list[Path] = field(default_factory=list)
    request_id: str | None = None
    # the day GitHub says the report is for (its `report_day`), checked against `day` by the reader
    report_day: str | None = None
    # " of organization 'octo-org'" where a run reads several accounts, else ""
    of: str = ""

    def label(self, index: int) -> str:
        return f"{self.report.report} report{self.of} for {self.day}, file {index + 1} of {len(self.files)}"

    def remove(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)


def limits(settings: SourceSettings) -> Limits:
    return Limits(settings.max_download_bytes, settings.max_line_bytes)


def _over_limit(exc: OverLimit, what: str, host: str) -> ReportDataError:
    if exc.kind == "line":
        cause = f"{what} from {host} has a line longer than {exc.limit} bytes"
        key = "max_line_bytes"
    else:
        cause = f"{what} from {host} is larger than {exc.limit} bytes ({exc.kind})"
        key = "max_download_bytes"
    return ReportDataError(
        f"{cause}; the download was stopped and nothing of this run was loaded.",
        f"If the file is genuine (a very large enterprise), raise {config_key(key)}; a file host"
        " sending an endless or bomb-like body is stopped by it on purpose.",
        docs_url=DOCS["troubleshooting"],
        endpoint=what,
    )


def download_file(client: GitHubClient, url: str, target: Path, what: str, ndjson: bool = True) -> None:
    """Download one signed link to `target`, retrying truncated and dropped transfers (an NDJSON
    report file, or with `ndjson` False another text file such as a CSV export)."""
    host = host_of(url)
    bounds = limits(client.settings)
    problem = ""
    cut_lines: list[int] = []
    for attempt in range(DOWNLOAD_ATTEMPTS):
        if attempt:
            time.sleep(client.retry_delay(attempt))
        failure: Exception | None = None
        with client.download(url, what) as (response, bounded):
            status = response.status_code
            if status in (401, 403, 404, 410):
                raise LinkExpired(f"{status} from {host}")
            if status != 200:
                problem = f"{host} answered {status}"
            else:
                try:
                    save_body(response, target, bounds, bounded, ndjson)
                    return
                except LastLineCut as exc:
                    problem = f"the file arrived truncated ({exc})"
                    cut_lines.append(exc.line)
                except Truncated as exc:
                    problem = f"the file arrived truncated ({exc})"
                except (DeadlineExceeded, OverLimit, BadGzip, UnknownEncoding) as exc:
                    failure = exc
                except TRANSFER_ERRORS as exc:
                    if not isinstance(exc, requests.RequestException) and getattr(exc, "errno", None) in LOCAL_WRITE:
                        # writing the file failed: the disk, not the network (a retry cannot help)
                        errno = getattr(exc, "errno", None)
                        raise OSError(errno, getattr(exc, "strerror", None), str(target)) from None
                    if bounded.expired:
                        failure = DeadlineExceeded(bounded.seconds)
                    else:
                        problem = f"the transfer failed ({type(exc).__name__})"
        if failure is not None:
            # outside the except blocks: no traceback chains the transfer's own exception text
            raise _failed(failure, what, host)
        if attempt + 1 < DOWNLOAD_ATTEMPTS:
            logger.warning(f"Downloading {what} from {host}: {problem}; retrying.")
    if len(cut_lines) == DOWNLOAD_ATTEMPTS and len(set(cut_lines)) == 1:
        # complete by HTTP every time, and always the same bad last line: that is the data itself
        raise bad_line_error(what, cut_lines[0], f"is not valid JSON (in each of {DOWNLOAD_ATTEMPTS} downloads)")
    raise Unreachable(
        f"Could not download {what} from {host} after {DOWNLOAD_ATTEMPTS} attempts: {problem}.",
        f"Check the network path to {host} (proxies may cut long downloads) and run again.",
    )


def _failed(exc: Exception, what: str, host: str) -> Exception:
    """The one-line error for a download that must not be retried."""
    if isinstance(exc, DeadlineExceeded):
        return deadline_error(what, host, exc.seconds, "download_deadline")
    if isinstance(exc, OverLimit):
        return _over_limit(exc, what, host)
    if isinstance(exc, UnknownEncoding):
        return Unreachable(
            f"{host} sent {what} with Content-Encoding {str(exc)!r}, which the source did not ask for"
            " (it accepts gzip only).",
            "A proxy may be re-encoding downloads: let this machine reach the file host directly.",
            docs_url=DOCS["troubleshooting"],
            endpoint=what,
        )
    return ReportDataError(
        f"{what} from {host} is not a valid gzip body: {exc}.",
        "The day was not loaded and the cursor did not move past it. Run again later (GitHub may"
        " correct the file), or show GitHub support the report day and file.",
        endpoint=what,
    )


def ask_report_day(
    client: GitHubClient, report: Report, account: str, day: date, of: str = ""
) -> requests.Response | None:
    """GitHub's answer for one report day (its file links), or None: no report for that day (yet)."""
    endpoint = f"the {report.report} report{of} for {day}"
    return client.get_if_present(
        report.path(account), endpoint, report.docs_url, params={"day": day.isoformat()}, absent=report.no_data_statuses
    )


def fetch_report_day(
    client: GitHubClient,
    report: Report,
    account: str,
    day: date,
    folder: Path,
    of: str = "",
    answered: requests.Response | None = None,
) -> ReportDay | None:
    """Download every file of `report` for `day` into `folder`; None if GitHub has no report yet.

    `of` names the account in messages (" of organization 'octo-org'") where the run has several;
    `answered` is GitHub's answer for the day when it was asked already (its links are used first).
    """
    endpoint = f"the {report.report} report{of} for {day}"
    for _ in range(LINK_REFRESHES + 1):
        response, answered = answered or ask_report_day(client, report, account, day, of), None
        if response is None:
            return None
        links = report_links(response, endpoint)
        named_day = response.json().get("report_day")
        result = ReportDay(
            report,
            day,
            request_id=response.headers.get("x-github-request-id"),
            report_day=None if named_day is None else str(named_day),
            of=of,
        )
        result.files = [folder / f"{report.report}-{day}-{i}.ndjson" for i in range(len(links))]
        try:
            for index, url in enumerate(links):
                download_file(client, url, result.files[index], result.label(index))
            return result
        except LinkExpired as exc:
            result.remove()
            logger.info(f"A download link of {endpoint} expired ({exc}); asking GitHub for fresh links.")
        except BaseException:
            result.remove()
            raise
    raise Unreachable(
        f"The download links of {endpoint} kept expiring after {LINK_REFRESHES} refreshes.",
        "The file host may be refusing this network, or the machine's clock is far off; run again.",
    )
