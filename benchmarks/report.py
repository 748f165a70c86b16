"""Print the benchmark's numbers as plain tables, with the machine they came from."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import psutil

MB = 1_000_000
THROUGHPUT_TARGET = 2.0


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpus": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "versions": {name: version(name) for name in ("dlt", "duckdb", "pyarrow")},
        "load_average": [round(n, 2) for n in os.getloadavg()],
    }


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in header], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def print_machine(info: dict[str, Any]) -> None:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    write(f"Machine: {info['cpus']} CPUs ({info['cpu']}), {info['ram_gb']} GB RAM; Python {info['python']}, {versions}")
    write(f"Load average at start: {', '.join(map(str, info['load_average']))} (timings are noisy on a busy machine)")


def print_throughput(result: dict[str, Any]) -> None:
    runs = result["runs"]
    megabytes = result["bytes"] / MB
    duckdb = runs["DuckDB alone"]["seconds"]
    write(
        f"\n1. Throughput: users_1_day of {result['users']:,} users x {result['days']} days ="
        f" {megabytes:,.1f} MB of NDJSON in {result['files']} files -> {len(runs['ours']['tables'])} tables,"
        f" {runs['ours']['rows']:,} rows (report files ready in {result['generated_seconds']:.1f} s:"
        " generated once, then reused)"
    )
    rows = [
        [
            name,
            run["seconds"],
            int(run["rows"] / run["seconds"]),
            megabytes / run["seconds"],
            run["peak_rss_mb"],
            run["seconds"] / duckdb,
            "yes" if run["same_tables"] else "NO",
        ]
        for name, run in runs.items()
    ]
    write(table(["path", "wall s", "rows/s", "MB/s", "peak RSS MB", "x DuckDB", "same rows"], rows))
    ours = runs["ours"]
    ratio = ours["seconds"] / duckdb
    verdict = "meets" if ratio <= THROUGHPUT_TARGET else "MISSES"
    write(f"ours / DuckDB alone = {ratio:.2f}x ({verdict} the target of {THROUGHPUT_TARGET:.0f}x)")
    for name, run in runs.items():
        if name.startswith("naive"):
            write(f"{name} / ours = {run['seconds'] / ours['seconds']:.2f}x")
    steps = ", ".join(
        f"{step} {s['seconds']:.2f} s (peak {s['peak_rss_mb']:.0f} MB)" for step, s in ours["steps"].items()
    )
    write(f"ours step by step: {steps}; report tables loaded as {', '.join(ours['file_formats'])}")


def print_memory(results: list[dict[str, Any]], limit_mb: int) -> None:
    write(
        "\n2. Memory: a one-year backfill of users_1_day (a first run), peak RSS of the whole process"
        f" (limit {limit_mb} MB)"
    )
    rows = [
        [
            r["users"],
            r["days"],
            r["bytes"] / MB,
            r["rows"],
            r["seconds"],
            r["steps"]["extract"]["peak_rss_mb"],
            r["peak_rss_mb"],
            r["variant"],
        ]
        for r in results
    ]
    write(table(["users", "days", "report MB", "rows", "wall s", "extract peak MB", "peak RSS MB", "DuckDB"], rows))
    capped = [r["peak_rss_mb"] for r in results if "capped" in r["variant"] and "uncapped" not in r["variant"]]
    verdict = "stays under" if max(capped) < limit_mb else "EXCEEDS"
    write(f"with the shipped settings the peak {verdict} {limit_mb} MB (highest: {max(capped):.0f} MB)")


def print_latency(results: list[dict[str, Any]], latency: float) -> None:
    write(f"\n3. Latency hiding: seats + users_1_day with {latency * 1000:.0f} ms added to every request")
    rows = [
        [
            r["concurrency"],
            r["seconds"],
            r["calls"]["by_endpoint"].get("api billing/seats", 0),
            r["calls"]["by_endpoint"].get("api metrics/reports/users-1-day", 0),
            r["calls"]["downloads"],
            r["sequential_seconds"],
        ]
        for r in results
    ]
    write(table(["concurrency", "wall s", "seat pages", "report days", "downloads", "latency if serial s"], rows))
    if len(results) > 1:
        write(
            f"concurrency {results[-1]['concurrency']} vs 1:"
            f" {results[0]['seconds'] / results[-1]['seconds']:.1f}x faster"
        )


def print_no_op(result: dict[str, Any]) -> None:
    write(f"\n4. Incremental no-op: the whole source twice ({result['users']:,} users, {result['days']} report days)")
    rows = []
    for name in ("first", "second"):
        run = result[name]
        by_endpoint = ", ".join(
            f"{k.removeprefix('api ')} {v}" for k, v in run["calls"]["by_endpoint"].items() if k.startswith("api ")
        )
        rows.append([name, run["seconds"], run["calls"]["api_calls"], run["calls"]["downloads"], by_endpoint])
    write(table(["run", "wall s", "API calls", "downloads", "API calls by endpoint"], rows))
