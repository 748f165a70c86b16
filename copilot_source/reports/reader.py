"""The body of a report resource: plan the days, fetch them side by side, yield their tables."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dlt
from dlt.common import logger
from dlt.common.configuration.container import Container
from dlt.common.pipeline import PipelineContext
from dlt.common.schema.typing import TWriteDispositionConfig
from dlt.extract.incremental import Incremental

from copilot_source.concurrency import ordered_map
from copilot_source.config import SourceSettings, earliest_report_day
from copilot_source.declarations import DOCS, REPORT_DELAY_DAYS, Report
from copilot_source.errors import CopilotSourceError, NoResource, metrics_disabled
from copilot_source.github.client import GitHubClient
from copilot_source.reports import arrow as arrow_reports
from copilot_source.reports import rows as python_reports
from copilot_source.reports.batching import Batcher
from copilot_source.reports.days import DayOutcome, compact, day_range, plan_days
from copilot_source.reports.downloads import ReportDay, fetch_report_day
from copilot_source.reports.layout import breakdown_primary_key

# upsert by primary key and delete what a re-read day no longer has (dlt's `cdc` strategy);
# supported alike by DuckDB, PostgreSQL, BigQuery, Snowflake, Databricks and Delta tables
MERGE: TWriteDispositionConfig = {"disposition": "merge", "strategy": "cdc"}
# a first run that finds no report in this many days (while days that old should exist) fails
SILENT_DAYS_BEFORE_FAILING = 7


def breakdown_hints(table: str, spec: Report) -> Any:
    """Hints of an array's table, keyed by element position. Created as a variant of the report
    resource's hints, it inherits the rest (write disposition, merge key or scope, table format):
    its rows are replaced day by day like its parent's, on whatever destination."""
    return dlt.mark.make_hints(table_name=table, primary_key=breakdown_primary_key(spec.keys))


class ReportReader:
    """Reads one report (e.g. users-1-day) for the days one run needs."""

    def __init__(self, client: GitHubClient, settings: SourceSettings, spec: Report, fast: bool) -> None:
        self.client = client
        self.settings = settings
        self.spec = spec
        self.fast = fast
        self._declared: set[str] = set()

    def _items(self, batches: Iterator[tuple[str, Any]]) -> Iterator[Any]:
        """dlt items: the resource's own rows as they are, array tables marked with their table."""
        for table, data in batches:
            if table == self.spec.table:
                yield data
            elif table in self._declared:
                yield dlt.mark.with_table_name(data, table)
            else:
                # declare the array's table once; later items only name it (much cheaper)
                self._declared.add(table)
                yield dlt.mark.with_hints(data, breakdown_hints(table, self.spec), create_table_variant=True)

    def _download_folder(self) -> Path:
        """An empty folder for this resource's downloads, inside the pipeline's working folder, so
        files a killed run left behind are removed by the next run (the run lock makes it ours)."""
        context = Container()[PipelineContext]
        if not context.is_active():
            return Path(tempfile.mkdtemp(prefix="copilot-reports-"))
        folder = Path(dlt.current.pipeline().working_dir) / "copilot_downloads" / self.spec.table
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def _check_reports_exist(self, days: list[date]) -> None:
        """No report on any day of a first run: tell a wrong slug from a switched-off policy."""
        try:
            self.client.get(
                f"enterprises/{self.settings.enterprise}/copilot/billing/seats",
                "the enterprise's Copilot seats",
                DOCS["seats"],
                params={"per_page": 1},
            )
        except NoResource:
            raise
        except CopilotSourceError:
            pass  # a token that may read reports but not seats: the reports are still the issue
        raise metrics_disabled(
            f"GitHub has no {self.spec.report} report for any day from {days[0]} to {days[-1]}"
            " although the enterprise answers.",
            endpoint=self.spec.report,
        )

    def read(self, cursor: Incremental[date]) -> Iterator[Any]:
        settings = self.settings
        state = dlt.current.resource_state()
        today = settings.today
        earliest = earliest_report_day(today)
        if settings.is_backfill:
            assert settings.end_date is not None
            days = day_range(settings.start_date, settings.end_date)
        else:
            start = cursor.start_value or settings.start_date
            holes = [date.fromisoformat(d) for d in state.get("holes", [])]
            days = plan_days(start, today - timedelta(days=1), holes, earliest)
            if days and days[0] < start:
                # retried holes are older than the cursor window: let their rows through
                cursor.start_value = days[0]
        outcome = DayOutcome()
        folder = self._download_folder()

        def fetch(day: date) -> ReportDay | None:
            return fetch_report_day(self.client, self.spec, settings.enterprise, day, folder)

        spec = self.spec
        parser = (arrow_reports.ReportParser if self.fast else python_reports.RowParser)(spec.table, spec.keys)
        batcher = Batcher()
        try:
            for day, fetched in zip(days, ordered_map(fetch, days, settings.concurrency), strict=True):
                if fetched is None:
                    outcome.unavailable.append(day)
                    continue
                for index, path in enumerate(fetched.files):
                    for table, data in parser.add(path, fetched.label(index)):
                        yield from self._items(batcher.add(table, data))
                fetched.remove()
                outcome.loaded.append(day)
            for table, data in parser.flush():
                yield from self._items(batcher.add(table, data))
            yield from self._items(batcher.flush())
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            arrow_reports.release_memory()
        self._record(state, outcome, days, earliest, today)

    def _record(
        self, state: dict[str, Any], outcome: DayOutcome, days: list[date], earliest: date, today: date
    ) -> None:
        """Remember what GitHub has (for holes and the next run) and report on this run."""
        known_first = [date.fromisoformat(state["first_day"])] if "first_day" in state else []
        first = min(known_first + outcome.loaded, default=None)
        known_newest = date.fromisoformat(state["newest_day"]) if "newest_day" in state else None
        newest = outcome.newest_loaded(known_newest)
        old_holes = {date.fromisoformat(d) for d in state.get("holes", [])}
        still_missing = {d for d in old_holes if d not in outcome.loaded and d >= earliest}
        holes = sorted(still_missing | set(outcome.holes(first, newest)))
        not_yet = outcome.not_yet_available(newest)
        metrics = dlt.current.resource_metrics()
        metrics["days_loaded"] = compact(outcome.loaded)
        metrics["days_not_yet_available"] = compact(not_yet)
        metrics["days_missing_retried_later"] = compact(holes)
        if self.settings.is_backfill:
            return
        if first is None and days and not outcome.loaded:
            overdue = [d for d in days if d <= today - timedelta(days=REPORT_DELAY_DAYS + SILENT_DAYS_BEFORE_FAILING)]
            if overdue:
                self._check_reports_exist(days)
        if first is not None:
            state["first_day"] = first.isoformat()
        if newest is not None:
            state["newest_day"] = newest.isoformat()
        state["holes"] = [d.isoformat() for d in holes]
        if holes:
            logger.warning(
                f"GitHub has no {self.spec.report} report for {compact(holes)} although later days"
                " exist; these days are retried on later runs."
            )
        dropped = sorted(d for d in old_holes if d < earliest)
        if dropped:
            logger.warning(
                f"GitHub no longer keeps {self.spec.report} reports for {compact(dropped)} (older"
                " than one year); they stay missing."
            )
