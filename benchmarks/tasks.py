"""What one measured run does, in a process of its own: `python -m benchmarks.tasks '<json>'`.

Each task prints one JSON line: its wall time (imports and start-up excluded), the process's
peak RSS (`ru_maxrss`, which includes DuckDB's memory: it runs in the same process) and the rows
of every table it wrote, so that the parent can compare the paths with each other.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlt
import duckdb
import psutil

from benchmarks.duckdb_ingest import ingest
from copilot_source import copilot_source

Task = Callable[[dict[str, Any]], dict[str, Any]]
DATASET = "copilot_data"


def peak_rss_mb() -> float:
    """The most memory this process has held so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / (1 << 20)


def table_totals(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, list[int]]:
    """Rows and the sum of `loc_added_sum` of every data table: what the paths must agree on."""
    listed = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name NOT LIKE '_dlt%'",
        [schema],
    ).fetchall()
    totals = {}
    for (table,) in sorted(listed):
        columns = {c for (c,) in con.execute(f'SELECT column_name FROM (DESCRIBE {schema}."{table}")').fetchall()}
        added = "sum(loc_added_sum)" if "loc_added_sum" in columns else "0"
        count, added = con.execute(f'SELECT count(*), {added} FROM {schema}."{table}"').fetchall()[0]
        totals[table] = [int(count), int(added or 0)]
    return totals


def dlt_load(params: dict[str, Any]) -> dict[str, Any]:
    """Our source into a DuckDB file, with the settings a user has (`.dlt/` in the working folder)."""
    fake = params["fake"]
    database = Path(params["database"])
    pipeline = dlt.pipeline(
        pipeline_name=params.get("pipeline", "copilot_bench"),
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name=DATASET,
    )
    # only what differs from the configuration: concurrency comes from `.dlt/config.toml`
    optional = {k: params[k] for k in ("concurrency", "fast_path") if k in params}
    source = copilot_source(
        enterprise=fake["enterprise"],
        access_token=fake["token"],
        base_url=fake["api_url"],
        start_date=fake["first_report_day"],
        **optional,
    )
    if params.get("resources"):
        source = source.with_resources(*params["resources"])
    # the three steps of `pipeline.run`, one by one to see the time and peak memory of each
    steps: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for step, call in (
        ("extract", lambda: pipeline.extract(source, loader_file_format=params.get("loader_file_format"))),
        ("normalize", pipeline.normalize),
        ("load", pipeline.load),
    ):
        begun = time.perf_counter()
        outcome = call()
        steps[step] = {"seconds": time.perf_counter() - begun, "peak_rss_mb": peak_rss_mb(), "rss_mb": rss_mb()}
    seconds = time.perf_counter() - started
    jobs = [job.job_file_info for package in outcome.load_packages for job in package.jobs["completed_jobs"]]
    # the formats the data tables travelled in (not dlt's own tables, not the merge SQL)
    formats = sorted({j.file_format for j in jobs if not j.table_name.startswith("_dlt") and j.file_format != "sql"})
    with duckdb.connect(str(database), read_only=True) as con:
        totals = table_totals(con, DATASET)
    return {"seconds": seconds, "steps": steps, "file_formats": formats, "tables": totals}


def duckdb_alone(params: dict[str, Any]) -> dict[str, Any]:
    """DuckDB's own ingestion of the same files into the same tables."""
    database = Path(params["database"])
    with duckdb.connect(str(database)) as con:
        started = time.perf_counter()
        ingest(con, params["files"], DATASET)
        seconds = time.perf_counter() - started
        totals = table_totals(con, DATASET)
    return {"seconds": seconds, "tables": totals}


TASKS: dict[str, Task] = {"dlt_load": dlt_load, "duckdb_alone": duckdb_alone}


def main() -> None:
    request = json.loads(sys.argv[1])
    result = TASKS[request["task"]](request["params"])
    result["peak_rss_mb"] = peak_rss_mb()
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
