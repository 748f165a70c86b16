"""One load of the source in a process of its own that freezes inside a chosen step, to be killed.

    python tests/kill_run.py '{"pipeline": ..., "database": ..., "source": {...}, "stop": "load", "marker": ...}'

`stop` is "extract", "normalize" or "load": inside that step, once it has done some of its work
(rows extracted, items normalized, a load job completed), the run writes `marker` and sleeps
until it is killed. With `settle`, a load first waits until every job the pool had started has
written its rows and recorded that. The test watching for the marker knows exactly which step
it interrupts; no timing is guessed. The run goes through `runner.run_load`, as
`pipelines/load.py` does.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import dlt
from dlt.common.runtime.collector_base import Collector

from copilot_source import copilot_source
from copilot_source.ops.runner import run_load


class FreezeInside(Collector):
    """A dlt progress collector that stops the pipeline dead once a step has made progress."""

    def __init__(self, step: str, marker: Path, settle: bool = False) -> None:
        self.stop = step
        self.marker = marker
        self.settle = settle
        self.step = ""

    def _wait_for_running_jobs(self) -> None:
        """Load jobs run in a pool: wait until each started one has recorded its outcome."""
        packages = Path(dlt.current.pipeline().working_dir) / "load" / "normalized"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = {p.name for p in packages.glob("*/started_jobs/*")}
            recorded = {p.name for p in packages.glob("*/.pending_transitions/*")}
            if started <= recorded:
                return
            time.sleep(0.05)

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        current = self.step.split(" ", 1)[0].lower()
        # extract and normalize report rows per table, load reports finished jobs
        progressed = inc > 0 and not label and name not in ("Resources", "Files")
        if current == self.stop and progressed:
            if self.settle:
                self._wait_for_running_jobs()
            self.marker.write_text(f"{self.step}: {name} +{inc}")
            while True:
                time.sleep(60)

    def _start(self, step: str) -> None:
        self.step = step

    def _stop(self) -> None:
        self.step = ""


def main(arguments: dict[str, Any]) -> None:
    stop = arguments.get("stop")
    progress = FreezeInside(stop, Path(arguments["marker"]), arguments.get("settle", False)) if stop else None
    if arguments.get("plain"):
        # as a user's own dlt project runs it: no runner, no lock, no recovery call of its own
        pipeline = dlt.pipeline(
            pipeline_name=arguments["pipeline"],
            destination=dlt.destinations.duckdb(arguments["database"]),
            dataset_name="copilot_data",
            progress=progress,
        )
        pipeline.run(copilot_source(**arguments["source"]))
        return
    run_load(
        pipeline_name=arguments["pipeline"],
        source_args=arguments["source"],
        progress=progress,
        destination=dlt.destinations.duckdb(arguments["database"]),
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
