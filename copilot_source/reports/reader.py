"""The body of a report resource: plan the days, fetch them side by side, yield their tables.

The resource keeps its own record of days per entity (`days.DayRecord`, in the resource state
under `entities`, e.g. `entities["enterprise:octo-corp"]`) instead of dlt's `incremental`: the
newest `day` yielded is no measure of what was written (a partial extract, or a line dated in
another year, would move it), and each enterprise or organization needs its own days.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import requests
from dlt.common import logger
from dlt.common.schema import Schema
from dlt.common.schema.typing import C_DLT_LOAD_ID, TWriteDispositionConfig
from dlt.extract.exceptions import CurrentSourceSchemaNotAvailable

from copilot_source.accounts import Account
from copilot_source.concurrency import ordered_map
from copilot_source.config import SourceSettings, earliest_report_day
from copilot_source.declarations import DOCS, ENTERPRISE, REPORT_DELAY_DAYS, Report
from copilot_source.errors import CopilotSourceError, NoResource, ReportDataError, metrics_disabled
from copilot_source.github.client import GitHubClient
from copilot_source.reports import arrow as arrow_reports
from copilot_source.reports import rows as python_reports
from copilot_source.reports.batching import Batcher
from copilot_source.reports.days import DayOutcome, DayRecord, compact, day_range, migrate_state, plan_days
from copilot_source.reports.downloads import ReportDay, ask_report_day, fetch_report_day
from copilot_source.reports.duplicates import FirstCopies
from copilot_source.reports.layout import breakdown_primary_key
from copilot_source.reports.lines import Names
from copilot_source.reports.types import ColumnTypes
from copilot_source.workspace import current_load_id, remove_work_folder, work_folder

# upsert by primary key and delete what a re-read day no longer has (dlt's `cdc` strategy);
# supported alike by DuckDB, PostgreSQL, BigQuery, Snowflake, Databricks and Delta tables
# (`destinations.fit_day_merge` fits it to the destination when the run starts)
MERGE: TWriteDispositionConfig = {"disposition": "merge", "strategy": "cdc"}
# a first run that finds no report in this many days (while days that old should exist) fails
SILENT_DAYS_BEFORE_FAILING = 7
ENTITIES = "entities"
# a first run looks for an account's first report backwards from yesterday, and takes this many
# days in a row without one as the start (GitHub's own gaps are a day or two)
FIRST_RUN_GAP = 7


def breakdown_hints(table: str, spec: Report) -> Any:
    """Hints of an array's table, keyed by element position. Created as a variant of the report
    resource's hints, it inherits the rest (write disposition, merge key or scope, table format):
    its rows are replaced day by day like its parent's, on whatever destination."""
    return dlt.mark.make_hints(table_name=table, primary_key=breakdown_primary_key(spec.keys))


@dataclass(frozen=True)
class Plan:
    """The days one run asks for; `window_start` is the first day of its trailing window."""

    days: list[date]
    window_start: date
    record: DayRecord
    # GitHub's answers for days a first run's search asked already: their file links, or None
    answers: dict[date, requests.Response | None] = field(default_factory=dict)


def _pipeline_schema() -> Schema | None:
    try:
        return dlt.current.source_schema()
    except CurrentSourceSchemaNotAvailable:  # a resource iterated by hand, outside a pipeline
        return None


class ReportReader:
    """Reads one report (e.g. users-1-day) for the days one run needs."""

    def __init__(
        self, client: GitHubClient, settings: SourceSettings, spec: Report, fast: bool, account: Account
    ) -> None:
        self.client = client
        self.settings = settings
        self.spec = spec
        self.fast = fast
        self.account = account
        # messages name the account where a run reads several, or an organization's
        named = account.scope is not ENTERPRISE or len(settings.accounts_of(ENTERPRISE)) > 1
        self.of = f" of {account}" if named else ""
        self._declared: set[str] = set()
        # the lines of this run's days, by key (made anew for each read)
        self.copies = FirstCopies()

    @property
    def entity(self) -> str:
        """The key of this report's days in the resource state, e.g. `enterprise:octo-corp`."""
        return self.account.key

    def _stored_record(self) -> DayRecord:
        state = dlt.current.resource_state()
        entities = state.setdefault(ENTITIES, {})
        if self.entity not in entities and not entities:
            # what an older version (one enterprise, dlt's incremental) stored, for the first account
            migrated = migrate_state(state, self.settings.today)
            if migrated is not None:
                entities[self.entity] = migrated.to_state()
        return DayRecord.from_state(entities.get(self.entity, {}))

    def plan(self, extend_to: date | None = None) -> Plan:
        """The days to ask for: a backfill's range, or the window after the newest complete day
        (less `lookback_days`, re-read because GitHub finalises days late) plus the holes; with
        `extend_to`, the window starts no later than that day."""
        settings = self.settings
        # no report exists before its first day (organizations, teams and repositories came later)
        first = max(settings.start_date, self.spec.first_day)
        if settings.is_backfill:
            assert settings.end_date is not None
            return Plan(day_range(first, settings.end_date), first, DayRecord())
        record = self._stored_record()
        yesterday = settings.today - timedelta(days=1)
        earliest = earliest_report_day(settings.today)
        if record == DayRecord() and extend_to is None:
            return self._first_plan(max(first, earliest), yesterday)
        start = record.window_start(settings.lookback_days, first)
        if extend_to is not None:
            start = max(first, min(start, extend_to))
        days = plan_days(start, yesterday, record.holes, earliest)
        return Plan(days, start, record)

    def _first_plan(self, first: date, yesterday: date) -> Plan:
        """A first run: find where the account's reports begin, asking days from yesterday
        backwards (side by side), until `FIRST_RUN_GAP` days in a row have none. The days from
        there on are all read (a shorter gap between two reports is a hole, asked again later),
        and GitHub's answers for them are used, not asked for twice."""
        backwards = day_range(first, yesterday)[::-1]
        answers: dict[date, requests.Response | None] = {}
        misses = 0

        def ask(day: date) -> requests.Response | None:
            return ask_report_day(self.client, self.spec, self.account.slug, day, self.of)

        with closing(ordered_map(ask, backwards, self.settings.concurrency)) as responses:
            for day, response in zip(backwards, responses, strict=False):
                answers[day] = response
                if response is None:
                    misses += 1
                    if misses >= FIRST_RUN_GAP:
                        break
                else:
                    misses = 0
        found = [day for day, response in answers.items() if response is not None]
        start = min(found, default=min(answers, default=first))
        return Plan(day_range(start, yesterday), start, DayRecord(), answers)

    def _items(self, batches: Iterator[tuple[str, Any]], load_id: str | None) -> Iterator[Any]:
        """dlt items: the resource's own rows as they are, array tables marked with their table."""
        for table, data in batches:
            if load_id is not None and isinstance(data, pa.Table):
                # dlt adds its load id to row dicts only: Arrow tables carry it from here (nullable:
                # tables an older version wrote have rows without it)
                column = pa.repeat(pa.scalar(load_id, pa.string()), data.num_rows)
                data = data.append_column(pa.field(C_DLT_LOAD_ID, pa.string()), column)
            if table == self.spec.table:
                yield data
            elif table in self._declared:
                yield dlt.mark.with_table_name(data, table)
            else:
                # declare the array's table once; later items only name it (much cheaper)
                self._declared.add(table)
                yield dlt.mark.with_hints(data, breakdown_hints(table, self.spec), create_table_variant=True)

    def _download_folder(self) -> Path:
        return work_folder(self.spec.table, self.account)

    def _check_reports_exist(self, days: list[date]) -> None:
        """No report on any day of a first run: tell a wrong slug from a switched-off policy."""
        account = self.account
        try:
            self.client.get(
                f"{account.scope.path}/{account.slug}/copilot/billing/seats",
                f"the Copilot seats of {account}",
                DOCS["seats"],
                params={"per_page": 1},
            )
        except NoResource:
            raise
        except CopilotSourceError:
            pass  # a token that may read reports but not seats: the reports are still the issue
        raise metrics_disabled(
            f"GitHub has no {self.spec.report} report of {account} for any day from {days[0]} to {days[-1]}"
            f" although the {account.scope.name} answers.",
            scope=account.scope.name,
            endpoint=self.spec.report,
        )

    def _check_report_day(self, fetched: ReportDay) -> None:
        """GitHub's answer must be the report of the day asked for (`report_day`)."""
        answered = fetched.report_day
        if answered is not None and answered != fetched.day.isoformat():
            raise ReportDataError(
                f"GitHub answered the {self.spec.report} report{self.of} for {fetched.day} with the report for"
                f" {answered} (its report_day).",
                "The day was not loaded and the cursor did not move past it. Run again later (GitHub"
                " may correct the answer), or show GitHub support the request id.",
                request_id=fetched.request_id,
                endpoint=self.spec.report,
            )

    def _parser(self) -> arrow_reports.ReportParser | python_reports.RowParser:
        schema = _pipeline_schema()
        types = ColumnTypes.from_schema(schema, self.spec.table)
        names = Names(schema.naming if schema else None)
        self.copies = FirstCopies()
        if self.fast:
            return arrow_reports.ReportParser(self.spec.table, self.spec.keys, types, names, self.copies)
        return python_reports.RowParser(self.spec.table, self.spec.keys, types, names, self.copies)

    def read(self, plan: Plan) -> Iterator[Any]:
        settings = self.settings
        days = plan.days
        earliest = earliest_report_day(settings.today)
        outcome = DayOutcome()
        folder = self._download_folder()
        load_id = current_load_id()
        parser = self._parser()
        batcher = Batcher()
        # days whose files were all parsed: complete once none of their rows waits in a buffer
        parsed: list[date] = []

        def fetch(day: date) -> ReportDay | None:
            if day in plan.answers:
                answered = plan.answers.pop(day)
                if answered is None:
                    return None  # the first run's search found no report for it just now
            else:
                answered = None
            return fetch_report_day(self.client, self.spec, self.account.slug, day, folder, self.of, answered)

        def settle() -> None:
            """Record the days all of whose items dlt has taken (runs after their yields returned)."""
            waiting = parser.pending_days | batcher.buffered_days
            done = [d for d in parsed if d not in waiting]
            if done:
                parsed[:] = [d for d in parsed if d in waiting]
                outcome.loaded.extend(done)
                self._remember(plan, outcome, earliest)

        try:
            for day, fetched in zip(days, ordered_map(fetch, days, settings.concurrency), strict=True):
                if fetched is None:
                    outcome.unavailable.append(day)
                    continue
                self._check_report_day(fetched)
                for index, path in enumerate(fetched.files):
                    for table, data in parser.add(path, fetched.label(index), day):
                        yield from self._items(batcher.add(table, data, parser.flushing_days), load_id)
                        settle()
                fetched.remove()
                parsed.append(day)
                settle()
            for table, data in parser.flush():
                yield from self._items(batcher.add(table, data, parser.flushing_days), load_id)
            yield from self._items(batcher.flush(), load_id)
            settle()
            self._remember(plan, outcome, earliest)  # also a run that found no day at all
        finally:
            remove_work_folder(folder)
            arrow_reports.release_memory()
        self._report(plan, outcome, earliest)

    def _remember(self, plan: Plan, outcome: DayOutcome, earliest: date) -> None:
        """Record the complete days for the next run (a backfill leaves the record alone)."""
        if self.settings.is_backfill:
            return
        state = dlt.current.resource_state()
        record = plan.record.updated(outcome, earliest, holes=self.spec.always_published)
        state.setdefault(ENTITIES, {})[self.entity] = record.to_state()

    def _report(self, plan: Plan, outcome: DayOutcome, earliest: date) -> None:
        """Say what this run found: metrics, duplicate lines, holes, and a first run with nothing."""
        record = plan.record.updated(outcome, earliest, holes=self.spec.always_published)
        metrics = dlt.current.resource_metrics()
        found = {
            "days_loaded": compact(outcome.loaded),
            "days_not_yet_available": compact(outcome.not_yet_available(record.newest_day)),
            "days_missing_retried_later": compact(list(record.holes)),
        }
        for name, days in found.items():
            if self.of:  # several accounts: one "<account> <days>" part each
                part = f"{self.account.slug} {days}"
                metrics[name] = f"{metrics[name]}; {part}" if name in metrics else part
            else:
                metrics[name] = days
        for day, count in sorted(self.copies.dropped.items()):
            logger.warning(
                f"GitHub's {self.spec.report} report{self.of} for {day} holds {count} line(s) whose key"
                f" ({', '.join(self.spec.keys)}) an earlier line of that day already had; the first"
                " line of each key was loaded, the later copies were left out."
            )
        if self.settings.is_backfill:
            return
        today = self.settings.today
        if plan.record.first_day is None and plan.days and not outcome.loaded:
            overdue = today - timedelta(days=REPORT_DELAY_DAYS + SILENT_DAYS_BEFORE_FAILING)
            if any(d <= overdue for d in plan.days):
                self._check_reports_exist(plan.days)
        if record.holes:
            logger.warning(
                f"GitHub has no {self.spec.report} report{self.of} for {compact(list(record.holes))} although later"
                " days exist; these days are retried on later runs."
            )
        dropped = sorted(d for d in plan.record.holes if d < earliest)
        if dropped:
            logger.warning(
                f"GitHub no longer keeps {self.spec.report} reports for {compact(dropped)} (older"
                " than one year); they stay missing."
            )
