"""Recover from a load that was killed while its jobs were writing to the destination.

dlt resumes an interrupted load package by running again every job whose outcome it did not
record. A job killed after its rows were committed but before dlt recorded that writes them a
second time into the staging tables, and the merges (`cdc`, `scd2`) copy both into the tables:
doubled rows (dlt-hub/dlt#3023). Such a package is aborted instead, with dlt's `abort_packages`,
which also rewinds the pipeline's local state to where that package began: the run that follows
reads those days from GitHub again. A package whose started jobs all recorded their outcome, and
packages still waiting to be normalized, resume as dlt resumes them: nothing is written twice.
"""

from __future__ import annotations

import dlt
from dlt.common import logger


def interrupted_jobs(pipeline: dlt.Pipeline) -> list[str]:
    """Jobs of the package being loaded that were running, outcome unknown, when the process died."""
    plan = pipeline.abort_packages(dry_run=True)
    package = plan["package_to_abort"] if plan else None
    return list(package["interrupted_jobs"]) if package else []


def recover_interrupted_load(pipeline: dlt.Pipeline) -> list[str]:
    """Abort a load package cut off mid-write and rewind the state; returns its interrupted jobs.

    Call it before `pipeline.run(copilot_source())` when not loading through `runner.run_load`.
    """
    jobs = interrupted_jobs(pipeline)
    if jobs:
        load_id = jobs[0].split("/", 1)[0]
        logger.warning(
            f"The last load of pipeline {pipeline.pipeline_name!r} was interrupted while writing to the"
            f" destination (load package {load_id}, {len(jobs)} job(s) of unknown outcome). Resuming it"
            " could write some rows twice, so it is discarded and this run reads its days from GitHub again."
        )
        pipeline.abort_packages()
    return jobs
