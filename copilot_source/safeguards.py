"""What a pipeline running this source needs besides the source's data: set up when it is created.

`pipeline.run(copilot_source())` in a user's own project gets the same protections as
`pipelines/load.py`, with no extra call:

* **Recovery from a load killed mid-write.** dlt resumes an interrupted load package by running
  again every job whose outcome it did not record. A job killed after its rows were committed but
  before dlt recorded that writes them a second time into the staging tables, and the merges
  (`cdc`, `scd2`) copy both into the tables: doubled rows (dlt-hub/dlt#3023). Such a package is
  aborted instead, with dlt's `abort_packages`, which also rewinds the pipeline's local state to where
  that package began: the run reads those days from GitHub again. A package whose started jobs all
  recorded their outcome, and packages still waiting to be normalized, resume as dlt resumes them.
* **Bounded DuckDB memory.** Uncapped, DuckDB caches up to 80 % of RAM while it merges a year of
  reports. Unless the user configured DuckDB's `global_config`, a pipeline running this source opens
  DuckDB with a 192 MB memory limit (it spills to disk beyond it). The default is a dlt config provider
  consulted after all others and only for the pipelines that run this source: no environment variable
  is written, and other pipelines of the host application are not affected.

Both act on the pipeline that is active when the source is created, which `pipeline.run(copilot_source())`
and `dlt.pipeline(...)` followed by `copilot_source()` guarantee.
"""

from __future__ import annotations

import threading
from typing import Any

import dlt
from dlt.common import logger
from dlt.common.configuration.container import Container
from dlt.common.configuration.providers import ConfigProvider
from dlt.common.pipeline import PipelineContext

DUCKDB_DEFAULTS: dict[str, Any] = {"memory_limit": "192MB", "preserve_insertion_order": False}


def interrupted_jobs(pipeline: dlt.Pipeline) -> list[str]:
    """Jobs of the package being loaded that were running, outcome unknown, when the process died."""
    plan = pipeline.abort_packages(dry_run=True)
    package = plan["package_to_abort"] if plan else None
    return list(package["interrupted_jobs"]) if package else []


def recover_interrupted_load(pipeline: dlt.Pipeline) -> list[str]:
    """Abort a load package cut off mid-write and rewind the state; returns its interrupted jobs."""
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


class DuckDbDefaults(ConfigProvider):
    """DuckDB's `global_config` for the pipelines that run this source, when nothing else sets it."""

    def __init__(self) -> None:
        self.pipelines: set[str] = set()
        self._lock = threading.Lock()

    def add(self, pipeline_name: str) -> None:
        with self._lock:
            self.pipelines.add(pipeline_name)

    def get_value(self, key: str, hint: Any, pipeline_name: str | None, *sections: str) -> tuple[Any | None, str]:
        name = ".".join((*sections, key))
        # dlt asks every provider with the pipeline's section first, then every provider without it:
        # answering only the second round lets the user's own setting win wherever it is written
        if pipeline_name is None and key == "global_config" and sections[-2:] == ("duckdb", "credentials"):
            context = Container()[PipelineContext]
            if context.is_active() and context.pipeline().pipeline_name in self.pipelines:
                return dict(DUCKDB_DEFAULTS), name
        return None, name

    @property
    def supports_secrets(self) -> bool:
        return True  # dlt reads credentials' fields only from providers that may hold secrets

    @property
    def supports_sections(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return "copilot_source DuckDB defaults"


_DUCKDB_DEFAULTS = DuckDbDefaults()
_register_lock = threading.Lock()


def _register_duckdb_defaults(pipeline_name: str) -> None:
    with _register_lock:
        # dlt makes its providers anew when its run context changes (another project folder)
        if _DUCKDB_DEFAULTS not in dlt.config.config_providers:
            dlt.config.register_provider(_DUCKDB_DEFAULTS)
    _DUCKDB_DEFAULTS.add(pipeline_name)


def guard_active_pipeline() -> None:
    """Recover the active pipeline from a killed load and bound DuckDB's memory for it."""
    context = Container()[PipelineContext]
    if not context.is_active():
        return
    pipeline = context.pipeline()
    if not isinstance(pipeline, dlt.Pipeline):
        return
    _register_duckdb_defaults(pipeline.pipeline_name)
    recover_interrupted_load(pipeline)
