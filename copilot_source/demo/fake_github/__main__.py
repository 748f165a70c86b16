"""The fake GitHub as a program, so that benchmarks can serve it from a process of its own.

    python -m copilot_source.demo.fake_github generate --storage DIR --users 8000 --days 7
    python -m copilot_source.demo.fake_github serve --storage DIR --users 8000 --days 7 [--latency 0.1]

`generate` writes the report files into `--storage` (all cores, one day per task) and prints
their paths as JSON; `serve` does the same first (files already there are reused), then prints
one JSON line with the URLs, the enterprise slug and the fake's own token, serves until its
standard input closes (or SIGTERM/SIGINT), and prints a JSON line with the requests it answered.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from copilot_source.demo.fake_github.data import FakeEnterprise
from copilot_source.demo.fake_github.server import FakeGitHub, Seen

REPORTS = ("users-1-day", "enterprise-1-day")
REPORT_FILE_COUNT = {"enterprise-1-day": 1}  # one line, so one file, whatever `files_per_report`


@dataclass
class FixedEnterprise(FakeEnterprise):
    """An enterprise whose settings stay as they are while it is served: each day's seat list is
    computed once, so that answering a seat page costs the fake no CPU that a benchmark could see."""

    _seats: dict[date, list[dict[str, Any]]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def seats(self, as_of: date) -> list[dict[str, Any]]:
        if as_of not in self._seats:
            self._seats[as_of] = super().seats(as_of)
        return self._seats[as_of]


class PreparedGitHub(FakeGitHub):
    """Serves files generated beforehand: a link request never regenerates a day's lines."""

    def __init__(self, enterprise: FakeEnterprise, counts: dict[tuple[str, date], int], **kwargs: Any) -> None:
        super().__init__(enterprise, **kwargs)
        self.counts = counts

    def file_count(self, report: str, day: date) -> int:
        known = self.counts.get((report, day))
        return known if known is not None else super().file_count(report, day)


def _enterprise(args: argparse.Namespace) -> FixedEnterprise:
    newest = date.fromisoformat(args.newest) if args.newest else datetime.now(timezone.utc).date() - timedelta(days=3)
    return FixedEnterprise(
        user_count=args.users,
        org_count=args.orgs,
        first_report_day=newest - timedelta(days=args.days - 1),
        newest_report_day=newest,
        seed=args.seed,
        active_percent=args.active_percent,
        files_per_report=args.files_per_report,
        detail=args.detail,
    )


_worker: FakeGitHub | None = None
_worker_reports: list[str] = []


def _start_worker(args: argparse.Namespace) -> None:
    """A generating process's fake (never started: only its file cache is used)."""
    global _worker, _worker_reports
    _worker = FakeGitHub(_enterprise(args), storage=Path(args.storage))
    _worker_reports = _reports(args)


def _reports(args: argparse.Namespace) -> list[str]:
    return [r for r in args.reports.split(",") if r]


def _day_files(day: date) -> dict[str, list[str]]:
    """Make sure one day's files are in the storage; report -> their paths."""
    fake = _worker
    assert fake is not None
    found: dict[str, list[str]] = {}
    for report in _worker_reports:
        expected = REPORT_FILE_COUNT.get(report, fake.enterprise.files_per_report)
        paths = [fake._cache_path(report, day, index) for index in range(expected)]
        if not all(path is not None and path.exists() for path in paths):
            paths = [fake._cache_path(report, day, index) for index in range(fake.file_count(report, day))]
            for index in range(len(paths)):
                fake.file_bytes(report, day, index)
        found[report] = [str(path) for path in paths]
    return found


def prepare(args: argparse.Namespace) -> dict[date, dict[str, list[str]]]:
    """Every report file of every day, generated where missing: day -> report -> paths."""
    days = _enterprise(args).report_days()
    workers = args.workers or os.cpu_count() or 1
    with ProcessPoolExecutor(min(workers, max(1, len(days))), initializer=_start_worker, initargs=(args,)) as pool:
        return dict(zip(days, pool.map(_day_files, days), strict=True))


def generate(args: argparse.Namespace) -> dict[str, Any]:
    prepared = prepare(args)
    result: dict[str, Any] = {"days": [d.isoformat() for d in prepared]}
    for report in _reports(args):
        files = [path for found in prepared.values() for path in found[report]]
        result[report] = {"files": files, "bytes": sum(Path(f).stat().st_size for f in files)}
    return result


def _summary(seen: list[Seen]) -> dict[str, Any]:
    """Requests per endpoint: the API path after the enterprise, downloads per report."""
    counts: Counter[str] = Counter()
    for request in seen:
        parts = request.path.strip("/").split("/")
        if request.host == "api":
            counts["api " + "/".join(parts[3:])] += 1
        else:
            counts["files " + (parts[1] if len(parts) > 1 else "?")] += 1
    api = sum(n for kind, n in counts.items() if kind.startswith("api "))
    return {"api_calls": api, "downloads": sum(counts.values()) - api, "by_endpoint": dict(sorted(counts.items()))}


def serve(args: argparse.Namespace) -> None:
    enterprise = _enterprise(args)
    prepared = prepare(args)
    counts = {(report, day): len(paths) for day, found in prepared.items() for report, paths in found.items()}
    fake = PreparedGitHub(enterprise, counts, latency=args.latency, storage=Path(args.storage))
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    with fake:
        _emit(
            {
                "api_url": fake.api_url,
                "files_url": fake.files_url,
                "enterprise": enterprise.slug,
                "token": fake.token,
                "first_report_day": enterprise.first_report_day.isoformat(),
                "newest_report_day": enterprise.newest_report_day.isoformat(),
            }
        )

        def stop_at_end_of_input() -> None:
            sys.stdin.read()
            stop.set()

        threading.Thread(target=stop_at_end_of_input, daemon=True).start()
        stop.wait()
        _emit(_summary(list(fake.seen)))


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m copilot_source.demo.fake_github", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("generate", "serve"):
        command = commands.add_parser(name)
        command.add_argument("--storage", required=True, help="folder caching the generated files")
        command.add_argument("--users", type=int, default=1000, help="people with a seat")
        command.add_argument("--days", type=int, default=7, help="report days, ending at --newest")
        command.add_argument("--newest", help="newest report day (default: three days ago, as on GitHub)")
        command.add_argument("--orgs", type=int, default=3)
        command.add_argument("--seed", type=int, default=1)
        command.add_argument("--active-percent", type=int, default=70, help="share of people active on a day")
        command.add_argument("--detail", type=int, default=1, help="breakdown sizes (1: ~3 KB per line)")
        command.add_argument("--files-per-report", type=int, default=2)
        command.add_argument(
            "--reports", default=",".join(REPORTS), help="reports generated beforehand (others: on request)"
        )
        command.add_argument("--workers", type=int, default=0, help="generating processes (default: all cores)")
        if name == "serve":
            command.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "generate":
        _emit(generate(args))
    else:
        serve(args)


if __name__ == "__main__":
    main()
