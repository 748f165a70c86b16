"""Benchmarks of the source against a fake GitHub serving from its own process.

    python -m benchmarks                      # everything, a few minutes on two cores
    python -m benchmarks --users 16000 --days 7 --only throughput

1. throughput: users_1_day (root and breakdown tables) into DuckDB over loopback HTTP, beside
   DuckDB's own read_json + unnest of the same files and dlt fed plain row dicts;
2. memory: a one-year backfill for enterprises of two sizes, peak RSS of the process;
3. latency: 100 ms per request, concurrency 1 versus the default;
4. no-op: a second run with nothing new, its time and requests.

Generated report files are kept in --work and reused by later runs of the same sizes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import report, scenarios
from benchmarks.processes import Enterprise

PARTS = ("throughput", "memory", "latency", "noop")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=8000, help="throughput: people (8000 x 7 days ~ 107 MB)")
    parser.add_argument("--days", type=int, default=7, help="throughput: report days")
    parser.add_argument("--memory-users", default="200,800", help="memory: enterprise sizes, comma-separated")
    parser.add_argument("--memory-days", type=int, default=365, help="memory: report days of the backfill")
    parser.add_argument("--latency-users", type=int, default=3000, help="latency: people (100 per seat page)")
    parser.add_argument("--latency-days", type=int, default=30)
    parser.add_argument("--noop-users", type=int, default=1000)
    parser.add_argument("--noop-days", type=int, default=14)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument("--no-naive", action="store_true", help="throughput: skip dlt with plain row dicts")
    parser.add_argument(
        "--insert-values",
        action="store_true",
        help="throughput: also row dicts through dlt's default insert_values loader (needs GBs of RAM)",
    )
    parser.add_argument("--no-uncapped", action="store_true", help="memory: skip the run with DuckDB's defaults")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "copilot-benchmarks")
    parser.add_argument("--json", type=Path, help="also write every number here (default: <work>/results.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        raise SystemExit(f"--only: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    space = scenarios.Workspace(args.work)
    results: dict[str, Any] = {"machine": report.machine()}
    report.print_machine(results["machine"])
    if "throughput" in parts:
        enterprise = Enterprise(users=args.users, days=args.days)
        results["throughput"] = scenarios.throughput(space, enterprise, not args.no_naive, args.insert_values)
        report.print_throughput(results["throughput"])
    if "memory" in parts:
        sizes = [Enterprise(users=int(n), days=args.memory_days) for n in args.memory_users.split(",")]
        results["memory"] = scenarios.memory(space, sizes, not args.no_uncapped)
        report.print_memory(results["memory"], scenarios.MEMORY_LIMIT_MB)
    if "latency" in parts:
        # few active people: the run is about round trips, not about parsing
        enterprise = Enterprise(users=args.latency_users, days=args.latency_days, active_percent=5)
        results["latency"] = scenarios.latency(space, enterprise, [1, scenarios.DEFAULT_CONCURRENCY])
        report.print_latency(results["latency"], scenarios.LATENCY_SECONDS)
    if "noop" in parts:
        enterprise = Enterprise(users=args.noop_users, days=args.noop_days, reports="users-1-day,enterprise-1-day")
        results["noop"] = scenarios.no_op(space, enterprise)
        report.print_no_op(results["noop"])
    target = args.json or space.root / "results.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2, default=str))
    report.write(f"\nAll numbers: {target}")


if __name__ == "__main__":
    main()
