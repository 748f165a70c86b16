"""The benchmark's runs: each returns plain numbers, `benchmarks.report` prints them.

Every measured run is a fresh process (`benchmarks.processes.measure`) against a fake GitHub
serving from a process of its own, so neither competes for the other's GIL and each peak RSS
is the run's own. Runs use the settings a user gets from the shipped `.dlt/` files.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.processes import Enterprise, fake_github, generate, measure
from copilot_source.config import DEFAULT_CONCURRENCY

__all__ = ["DEFAULT_CONCURRENCY", "Workspace", "latency", "memory", "no_op", "throughput"]

USERS_REPORT = "users-1-day"
LATENCY_SECONDS = 0.1
MEMORY_LIMIT_MB = 500


@dataclass(frozen=True)
class Workspace:
    """Where generated report files (kept between runs) and the runs' folders live."""

    root: Path

    @property
    def storage(self) -> Path:
        return self.root / "fake-github"

    def run_folder(self, name: str) -> Path:
        """A fresh folder for one run (its working directory, dlt home and database)."""
        folder = self.root / "runs" / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder


def _load(fake: dict[str, Any], folder: Path, **params: Any) -> dict[str, Any]:
    """Parameters of a `dlt_load` task: the fake GitHub's URLs and a database in the run's folder."""
    return {"fake": fake, "database": str(folder / "copilot.duckdb"), **params}


def _rows(result: dict[str, Any]) -> int:
    return sum(count for count, _ in result["tables"].values())


def throughput(space: Workspace, enterprise: Enterprise, naive: bool, insert_values: bool) -> dict[str, Any]:
    """users_1_day into DuckDB three ways: our load, DuckDB alone, and the naive dlt row dicts."""
    started = time.perf_counter()
    files = generate(enterprise, space.storage)[USERS_REPORT]
    generated = time.perf_counter() - started
    runs: dict[str, dict[str, Any]] = {}
    alone = space.run_folder("duckdb-alone")
    # DuckDB as it comes: no settings of ours
    runs["DuckDB alone"] = measure(
        "duckdb_alone", {"files": files["files"], "database": str(alone / "alone.duckdb")}, alone, False
    )
    with fake_github(enterprise, space.storage) as fake:
        reports = ["users_1_day"]
        ours = space.run_folder("ours")
        runs["ours"] = measure("dlt_load", _load(fake.info, ours, resources=reports), ours)
        if naive:
            folder = space.run_folder("naive-parquet")
            params = _load(fake.info, folder, resources=reports, fast_path=False, loader_file_format="parquet")
            runs["naive row dicts (parquet)"] = measure("dlt_load", params, folder)
        if insert_values:
            folder = space.run_folder("naive-insert-values")
            params = _load(fake.info, folder, resources=reports, fast_path=False)
            runs["naive row dicts (insert_values)"] = measure("dlt_load", params, folder)
    reference = runs["DuckDB alone"]["tables"]
    for result in runs.values():
        result["rows"] = _rows(result)
        result["same_tables"] = result["tables"] == reference
    return {
        "users": enterprise.users,
        "days": enterprise.days,
        "bytes": files["bytes"],
        "files": len(files["files"]),
        "generated_seconds": generated,
        "runs": runs,
    }


def memory(space: Workspace, sizes: list[Enterprise], uncapped: bool) -> list[dict[str, Any]]:
    """A one-year backfill of users_1_day for enterprises of several sizes: peak RSS of each."""
    results = []
    for enterprise in sizes:
        files = generate(enterprise, space.storage)[USERS_REPORT]
        variants = [("DuckDB capped (shipped settings)", True)]
        if uncapped and enterprise is sizes[-1]:
            variants.append(("DuckDB uncapped", False))
        with fake_github(enterprise, space.storage) as fake:
            for label, capped in variants:
                folder = space.run_folder(f"year-{enterprise.users}-{'capped' if capped else 'uncapped'}")
                result = measure("dlt_load", _load(fake.info, folder, resources=["users_1_day"]), folder, capped)
                result.update(users=enterprise.users, days=enterprise.days, bytes=files["bytes"], variant=label)
                result["rows"] = _rows(result)
                results.append(result)
    return results


def latency(space: Workspace, enterprise: Enterprise, concurrencies: list[int]) -> list[dict[str, Any]]:
    """Seat pages and report days with 100 ms per request: side by side versus one at a time."""
    generate(enterprise, space.storage)
    results = []
    for workers in concurrencies:
        folder = space.run_folder(f"latency-{workers}")
        with fake_github(enterprise, space.storage, latency=LATENCY_SECONDS) as fake:
            params = _load(fake.info, folder, resources=["seats", "users_1_day"], concurrency=workers)
            result = measure("dlt_load", params, folder)
            calls = fake.stop()
        requests = calls["api_calls"] + calls["downloads"]
        result.update(concurrency=workers, calls=calls, sequential_seconds=requests * LATENCY_SECONDS)
        results.append(result)
    return results


def no_op(space: Workspace, enterprise: Enterprise) -> dict[str, Any]:
    """A second run of the whole source with nothing new: its time and the calls it made."""
    generate(enterprise, space.storage)
    folder = space.run_folder("no-op")
    runs = []
    for _ in range(2):
        # a fresh fake per run, so that each counts only its own run's requests
        with fake_github(enterprise, space.storage) as fake:
            result = measure("dlt_load", _load(fake.info, folder), folder)
            result["calls"] = fake.stop()
        runs.append(result)
    return {"users": enterprise.users, "days": enterprise.days, "first": runs[0], "second": runs[1]}
