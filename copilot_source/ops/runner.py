"""Run the source in a pipeline the way `pipelines/load.py` does, and explain the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.pipeline import LoadInfo, get_dlt_pipelines_dir
from dlt.common.runtime.collector_base import Collector

from copilot_source import copilot_source
from copilot_source.analytics import create_views
from copilot_source.config import config_error_from_dlt
from copilot_source.declarations import REPORTS
from copilot_source.errors import AnalyticsFailed, ConfigurationError, CopilotSourceError
from copilot_source.ops.failures import explain
from copilot_source.ops.run_lock import pipeline_lock

PIPELINE_NAME = "github_copilot"
DATASET_NAME = "copilot_data"


@dataclass
class RunSummary:
    """What one run loaded: rows per table and the report days."""

    destination: str
    dataset: str
    rows: dict[str, int] = field(default_factory=dict)
    days: dict[str, dict[str, str]] = field(default_factory=dict)
    # a one-off backfill's first and last day
    backfill: tuple[str, str] | None = None
    # the analytics views (re)created after the load; None when not asked for
    views: list[str] | None = None

    def found_no_report(self) -> bool:
        """Every report asked found no day at all (e.g. a backfill of days GitHub has nothing for)."""
        loaded = [days.get("days_loaded", "none") for days in self.days.values()]
        return bool(loaded) and all(value.endswith("none") for value in loaded)

    def lines(self) -> list[str]:
        out = [f"Loaded into {self.destination}, dataset {self.dataset}:"]
        tables = {t: n for t, n in sorted(self.rows.items()) if not t.startswith("_dlt")}
        width = max([len(t) for t in tables] + [5])
        out.append(f"  {'table'.ljust(width)}  rows")
        out += [f"  {t.ljust(width)}  {n}" for t, n in tables.items()] or ["  (no new rows)"]
        for resource, days in self.days.items():
            out.append(
                f"{resource}: days loaded {days.get('days_loaded', 'none')};"
                f" not yet available {days.get('days_not_yet_available', 'none')};"
                f" missing, retried later {days.get('days_missing_retried_later', 'none')}"
            )
        if self.found_no_report():
            what = f"from {self.backfill[0]} to {self.backfill[1]}" if self.backfill else "this run asked for"
            out.append(
                f"GitHub had no report for any day {what}: no report day was loaded. Reports exist from the"
                " day the 'Copilot usage metrics' policy was enabled, for one year, two to three days after"
                " each day ends."
            )
        if self.views is not None:
            out.append(
                f"Analytics views: {len(self.views)} (re)created in dataset {self.dataset} (docs/analytics.md)."
                if self.views
                else "Analytics views: none, the destination holds no SQL views."
            )
        return out


def summarize(pipeline: dlt.Pipeline, info: LoadInfo | None) -> RunSummary:
    trace = pipeline.last_trace
    summary = RunSummary(
        destination=str(pipeline.destination.destination_name if pipeline.destination else "?"),
        dataset=pipeline.dataset_name,
    )
    normalize = trace.last_normalize_info if trace else None
    if normalize is not None:
        summary.rows = dict(normalize.row_counts)
    extract = trace.last_extract_info if trace else None
    if extract is not None:
        for metrics in extract.metrics.values():
            for step in metrics:
                for name, resource in step["resource_metrics"].items():
                    if name in {r.table for r in REPORTS}:
                        custom = resource.custom_metrics
                        summary.days[name] = {k: str(v) for k, v in custom.items() if k.startswith("days_")}
    return summary


def _needs(table: str) -> str:
    """The setting that makes the source load `table`."""
    return (
        "`organizations` under [sources.copilot]"
        if table.startswith(("org_", "organization_"))
        else ("`enterprise` under [sources.copilot]")
    )


def _views(pipeline: dlt.Pipeline) -> list[str]:
    """(Re)create the analytics views; a failure says that the data itself is loaded."""
    try:
        return create_views(pipeline)
    except AnalyticsFailed as exc:
        raise AnalyticsFailed(
            f"The data is loaded, but the analytics views are not: {exc.cause}",
            f"{exc.fix} To load without creating views: --no-views (run_load(views=False)).",
        ) from None


def run_load(
    pipeline_name: str = PIPELINE_NAME,
    dataset_name: str = DATASET_NAME,
    resources: Sequence[str] = (),
    source_args: dict[str, Any] | None = None,
    progress: str | Collector | None = "log",
    views: bool = True,
    **pipeline_args: Any,
) -> RunSummary:
    """Load the source (all or some resources) while holding the pipeline's run lock, then (re)create
    the analytics views over what is loaded (`views=False` leaves them alone).

    Raises `CopilotSourceError` for every failure, with its code and a one-line explanation
    (`Interrupted` when Ctrl-C stopped a pipeline step; a KeyboardInterrupt elsewhere propagates).
    """
    pipelines_dir = pipeline_args.get("pipelines_dir")
    try:
        pipelines_dir = pipelines_dir or get_dlt_pipelines_dir()
        return _run_locked(
            pipelines_dir, pipeline_name, dataset_name, resources, source_args, progress, views, pipeline_args
        )
    except CopilotSourceError:
        raise
    except Exception as exc:
        where = f"the pipelines folder {pipelines_dir} or the destination" if pipelines_dir else None
        raise explain(exc, where) from None


def _run_locked(
    pipelines_dir: str,
    pipeline_name: str,
    dataset_name: str,
    resources: Sequence[str],
    source_args: dict[str, Any] | None,
    progress: str | Collector | None,
    views: bool,
    pipeline_args: dict[str, Any],
) -> RunSummary:
    # locked before the pipeline is even opened: opening it may write to its working folder
    with pipeline_lock(pipelines_dir, pipeline_name):
        pipeline = dlt.pipeline(  # type: ignore[call-overload]
            pipeline_name=pipeline_name,
            dataset_name=dataset_name,
            progress=progress,  # type: ignore[arg-type]
            **pipeline_args,
        )
        if pipeline.destination is None:
            raise ConfigurationError(
                f"No destination is configured for pipeline {pipeline_name!r}.",
                f"Set `destination_type` under [pipelines.{pipeline_name}] in .dlt/config.toml (the shipped"
                f" file sets duckdb) or the env var PIPELINES__{pipeline_name.upper()}__DESTINATION_TYPE.",
            )
        try:
            source = copilot_source(**(source_args or {}))
        except ConfigurationException as exc:
            raise config_error_from_dlt(exc) from None
        if resources:
            absent = [name for name in resources if name not in source.resources]
            if absent:
                raise ConfigurationError(
                    f"--resources names {', '.join(absent)}, which this configuration does not load: "
                    + "; ".join(f"{name} needs {_needs(name)}" for name in absent)
                    + ".",
                    "Configure the accounts these tables come from, or leave them out of --resources.",
                )
            source = source.with_resources(*resources)
        # creating the source recovered the pipeline from a load killed mid-write (safeguards.py)
        if pipeline.has_pending_data:
            # a failed run left extracted packages: load them first, then read what is new, so that
            # one run after a failure completes the data (dlt's run() would stop after the first)
            pipeline.run()
        info = pipeline.run(source)
        summary = summarize(pipeline, info)
        if views:
            summary.views = _views(pipeline)
    args = source_args or {}
    if args.get("start_date") and args.get("end_date"):
        summary.backfill = (str(args["start_date"]), str(args["end_date"]))
    return summary
