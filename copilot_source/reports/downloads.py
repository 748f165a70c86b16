"""Fetch one report day: ask GitHub for its links, then stream every file to disk, whole.

A day is only handed on once all of its files are complete: a truncated file is downloaded
again, and an expired link (403 from the file host) is replaced by asking GitHub for fresh
links. The files are streamed in chunks and never held in memory.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import requests
from dlt.common import logger

from copilot_source.declarations import Report
from copilot_source.errors import Unreachable
from copilot_source.github.client import GitHubClient
from copilot_source.reports.layout import bad_line_error
from copilot_source.reports.lines import LineProblem, decode_line

STREAM_CHUNK = 1 << 20
DOWNLOAD_ATTEMPTS = 5
LINK_REFRESHES = 3
GZIP_MAGIC = b"\x1f\x8b"


class LinkExpired(Exception):
    """The file host refused a signed link: ask GitHub for fresh ones."""


class Truncated(Exception):
    """A file arrived incomplete."""


class LastLineCut(Truncated):
    """The file's last line does not parse: cut in transfer, or bad data if it always arrives so."""

    def __init__(self, line: int) -> None:
        super().__init__("the last line is cut off")
        self.line = line


@dataclass
class ReportDay:
    """One downloaded day: its files on disk, in GitHub's order."""

    report: Report
    day: date
    files: list[Path] = field(default_factory=list)
    request_id: str | None = None
    # the day GitHub says the report is for (its `report_day`), checked against `day` by the reader
    report_day: str | None = None

    def label(self, index: int) -> str:
        return f"{self.report.report} report for {self.day}, file {index + 1} of {len(self.files)}"

    def remove(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)


def _last_line_is_json(path: Path) -> bool:
    """A cut-off file ends in the middle of a line: its last line does not parse."""
    size = path.stat().st_size
    if size == 0:
        return True
    with open(path, "rb") as file:
        file.seek(max(0, size - (1 << 20)))
        tail = file.read().rstrip(b"\r\n")
    if not tail:
        return True
    last = tail.rsplit(b"\n", 1)[-1]
    if not last.strip():
        return True
    try:
        decode_line(last)
    except LineProblem as problem:
        return not problem.cut
    return True


def _last_line_number(path: Path) -> int:
    """The number of the file's last non-empty line (only needed when that line is bad)."""
    last = 0
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            if raw.strip():
                last = number
    return last


def _write_body(response: requests.Response, target: Path) -> None:
    """Stream the body to `target`, undoing Content-Encoding (requests) and a gzip body (here)."""
    announced = response.headers.get("content-length")
    encoded = response.headers.get("content-encoding", "").lower() not in ("", "identity")
    received = 0
    inflater: zlib._Decompress | None = None
    with open(target, "wb") as out:
        for index, piece in enumerate(response.iter_content(STREAM_CHUNK)):
            received += len(piece)
            if index == 0 and piece[:2] == GZIP_MAGIC:
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out.write(inflater.decompress(piece) if inflater else piece)
        if inflater is not None:
            out.write(inflater.flush())
            if not inflater.eof:
                raise Truncated("the gzip stream ended early")
    if announced and not encoded and received != int(announced):
        raise Truncated(f"{received} of {announced} bytes")
    if not _last_line_is_json(target):
        raise LastLineCut(_last_line_number(target))


def download_file(client: GitHubClient, url: str, target: Path, what: str) -> None:
    """Download one signed link to `target`, retrying truncated and dropped transfers."""
    host = urlsplit(url).hostname
    problem = ""
    cut_lines: list[int] = []
    for attempt in range(DOWNLOAD_ATTEMPTS):
        if attempt:
            time.sleep(client.retry_delay(attempt))
        response = client.open_download(url, what)
        with response:
            status = response.status_code
            if status in (401, 403, 404, 410):
                raise LinkExpired(f"{status} from {host}")
            if status != 200:
                problem = f"{host} answered {status}"
                continue
            try:
                _write_body(response, target)
                return
            except LastLineCut as exc:
                problem = f"the file arrived truncated ({exc})"
                cut_lines.append(exc.line)
            except Truncated as exc:
                problem = f"the file arrived truncated ({exc})"
            except (requests.RequestException, zlib.error, OSError) as exc:
                problem = f"the transfer failed ({type(exc).__name__})"
        if attempt + 1 < DOWNLOAD_ATTEMPTS:
            logger.warning(f"Downloading {what} from {host}: {problem}; retrying.")
    if len(cut_lines) == DOWNLOAD_ATTEMPTS and len(set(cut_lines)) == 1:
        # complete by HTTP every time, and always the same bad last line: that is the data itself
        raise bad_line_error(what, cut_lines[0], f"is not valid JSON (in each of {DOWNLOAD_ATTEMPTS} downloads)")
    raise Unreachable(
        f"Could not download {what} from {host} after {DOWNLOAD_ATTEMPTS} attempts: {problem}.",
        f"Check the network path to {host} (proxies may cut long downloads) and run again.",
    )


def fetch_report_day(
    client: GitHubClient, report: Report, enterprise: str, day: date, folder: Path
) -> ReportDay | None:
    """Download every file of `report` for `day` into `folder`; None if GitHub has no report yet."""
    path = report.path(enterprise)
    endpoint = f"the {report.report} report for {day}"
    for _ in range(LINK_REFRESHES + 1):
        response = client.get_if_present(
            path, endpoint, report.docs_url, params={"day": day.isoformat()}, absent=report.no_data_statuses
        )
        if response is None:
            return None
        body = response.json()
        links = body.get("download_links") or []
        answered = body.get("report_day")
        result = ReportDay(
            report,
            day,
            request_id=response.headers.get("x-github-request-id"),
            report_day=None if answered is None else str(answered),
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
