"""AI credits: daily usage items from the billing API, and per-person usage from GitHub's CSV export.

Usage-based billing replaced premium requests on 2026-06-01; one AI credit is USD 0.01.

* `…/settings/billing/ai_credit/usage?year&month&day` answers the day's usage items summed by SKU
  and model (gross - discount = net). One call per day; recent days are re-read, billing settles late.
* Per person there is no API line: GitHub's usage report export is asked for (`report_type` ai_credit,
  a window of at most 31 days), polled until it is ready (with growing pauses, one export at a time:
  a 409 means another export is running, so wait and ask again), and its CSV is downloaded like a
  report file and read with Arrow, columns by their header names (GitHub adds columns).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pcsv

from copilot_source.declarations import CREDIT_TABLES
from copilot_source.errors import ReportDataError, Unreachable
from copilot_source.reports.downloads import LINK_REFRESHES, LinkExpired

CREDITS_FROM = date(2026, 6, 1)
CREDIT_EXPORT_TABLE = CREDIT_TABLES[1]
EXPORT_MAX_DAYS = 31
USAGE_DOCS = "https://docs.github.com/enterprise-cloud@latest/rest/billing/usage"
EXPORT_DOCS = "https://docs.github.com/enterprise-cloud@latest/rest/billing/usage-reports"
# GitHub's camelCase usage item fields, as the columns they become
USAGE_ITEM_FIELDS = {
    "product": "product",
    "sku": "sku",
    "model": "model",
    "unitType": "unit_type",
    "pricePerUnit": "price_per_unit",
    "grossQuantity": "gross_quantity",
    "grossAmount": "gross_amount",
    "discountQuantity": "discount_quantity",
    "discountAmount": "discount_amount",
    "netQuantity": "net_quantity",
    "netAmount": "net_amount",
}
USAGE_NUMBERS = frozenset(
    {
        "price_per_unit",
        "gross_quantity",
        "gross_amount",
        "discount_quantity",
        "discount_amount",
        "net_quantity",
        "net_amount",
    }
)
# the export's columns we type; any other column GitHub adds is read as text
EXPORT_TYPES: dict[str, pa.DataType] = {
    "date": pa.date32(),
    "quantity": pa.float64(),
    "applied_cost_per_quantity": pa.float64(),
    "gross_amount": pa.float64(),
    "discount_amount": pa.float64(),
    "net_amount": pa.float64(),
    "total_monthly_quota": pa.float64(),
    "aic_quantity": pa.float64(),
    "aic_gross_amount": pa.float64(),
}
# what identifies one line of the export: a person's use of a model on a day, as GitHub splits it
EXPORT_KEY = (
    "day",
    "enterprise",
    "username",
    "product",
    "sku",
    "model",
    "organization",
    "repository",
    "cost_center_name",
)


class BillingApi(Protocol):
    def get_json(self, path: str, endpoint: str, docs_url: str, params: dict[str, Any] | None = None) -> Any: ...

    def post_json(self, path: str, body: dict[str, Any], endpoint: str, docs_url: str) -> tuple[int, Any]: ...


def usage_rows(api: BillingApi, path: str, owner_column: str, owner: str, day: date) -> list[dict[str, Any]]:
    """The usage items of one day, one row each, keyed by (day, owner, product, sku, model)."""
    params = {"year": day.year, "month": day.month, "day": day.day}
    body = api.get_json(path, f"AI-credit usage for {day}", USAGE_DOCS, params)
    items = body.get("usageItems") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ReportDataError(
            f"GitHub's AI-credit usage for {day} has no `usageItems` list.",
            "Run again later; if it persists, show GitHub support the day and the request id.",
        )
    rows = []
    for item in items:
        row: dict[str, Any] = {"day": day, owner_column: owner}
        for field, column in USAGE_ITEM_FIELDS.items():
            value = item.get(field)
            row[column] = float(value) if column in USAGE_NUMBERS and value is not None else value
        row.update({k: v for k, v in item.items() if k not in USAGE_ITEM_FIELDS})
        rows.append(row)
    return rows


def export_windows(first: date, last: date) -> list[tuple[date, date]]:
    """`first`..`last` cut into windows of at most 31 days, oldest first."""
    windows = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=EXPORT_MAX_DAYS - 1))
        windows.append((start, end))
        start = end + timedelta(days=1)
    return windows


@dataclass(frozen=True)
class Polling:
    """How patiently an export is waited for: pauses grow from `first` to `largest`."""

    first: float = 2.0
    largest: float = 60.0
    deadline: float = 3600.0


class CreditExport:
    """One AI usage report export of an enterprise: request it, wait for it, name its files."""

    def __init__(
        self,
        api: BillingApi,
        enterprise: str,
        polling: Polling,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.path = f"enterprises/{enterprise}/settings/billing/reports"
        self.polling = polling
        self._sleep = sleep
        self._clock = clock

    def _pauses(self) -> Iterator[float]:
        pause = self.polling.first
        while True:
            yield pause
            pause = min(self.polling.largest, pause * 2)

    def request(self, first: date, last: date) -> str:
        """Ask for the export; while another export runs (409) wait and ask again."""
        body = {"report_type": "ai_credit", "start_date": first.isoformat(), "end_date": last.isoformat()}
        what = f"the AI usage report export for {first}..{last}"
        started = self._clock()
        for pause in self._pauses():
            status, answer = self.api.post_json(self.path, body, what, EXPORT_DOCS)
            if status in (200, 201, 202) and isinstance(answer, dict) and answer.get("id"):
                return str(answer["id"])
            if status != 409:
                raise Unreachable(f"GitHub answered {status} to {what} without an export id.", "Run again later.")
            if self._clock() - started + pause > self.polling.deadline:
                raise Unreachable(
                    f"Another usage report export kept running for {self.polling.deadline:.0f}s; GitHub runs one"
                    " export per account at a time.",
                    "Run again when the other export is done, or raise `billing_export_timeout`.",
                )
            self._sleep(pause)
        raise AssertionError("unreachable")

    def wait(self, export_id: str, what: str) -> list[str]:
        """Poll the export until it is completed (its download URLs) or failed."""
        started = self._clock()
        for pause in self._pauses():
            answer = self.api.get_json(f"{self.path}/{export_id}", what, EXPORT_DOCS)
            status = answer.get("status") if isinstance(answer, dict) else None
            if status == "completed":
                urls = answer.get("download_urls") or []
                if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                    raise ReportDataError(f"GitHub completed {what} but listed no download URLs.", "Run again.")
                return urls
            if status == "failed":
                raise ReportDataError(f"GitHub reports that {what} failed.", "Run again later.")
            if self._clock() - started + pause > self.polling.deadline:
                raise Unreachable(
                    f"{what} was not ready after {self.polling.deadline:.0f}s (status {status!r}).",
                    "Run again later (the export keeps running at GitHub), or raise `billing_export_timeout`.",
                )
            self._sleep(pause)
        raise AssertionError("unreachable")

    def files(self, export_id: str, what: str, folder: Path, download: Download) -> list[Path]:
        """Download the export's CSV files into `folder`; an expired link is asked for afresh."""
        for _ in range(LINK_REFRESHES + 1):
            urls = self.wait(export_id, what)
            paths = [folder / f"{export_id}-{index}.csv" for index in range(len(urls))]
            try:
                for index, (url, path) in enumerate(zip(urls, paths, strict=True)):
                    download(url, path, f"{what}, file {index + 1} of {len(urls)}")
                return paths
            except LinkExpired:
                for path in paths:
                    path.unlink(missing_ok=True)
        raise Unreachable(
            f"The download links of {what} kept expiring after {LINK_REFRESHES} refreshes.",
            "The file host may be refusing this network, or the machine's clock is far off; run again.",
        )


# (url, target, what): download one signed file without the token (reports.downloads.download_file)
Download = Callable[[str, Path, str], None]


def read_export(path: Path, what: str, block_bytes: int = 4 << 20) -> Iterator[pa.Table]:
    """The rows of an AI usage CSV, in blocks: known columns typed, `date` as `day`, the rest text."""
    convert = pcsv.ConvertOptions(
        column_types=EXPORT_TYPES, strings_can_be_null=False, quoted_strings_can_be_null=False, auto_dict_encode=False
    )
    try:
        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=block_bytes), convert_options=convert)
        names = reader.schema.names
        missing = [c for c in ("date", "username", "model", "product") if c not in names]
        if missing:
            raise ReportDataError(
                f"{what} has no column {', '.join(missing)} (columns: {', '.join(names)[:300]}).",
                "Run again later; if it persists, GitHub changed the export's format.",
            )
        for batch in reader:
            table = pa.Table.from_batches([batch])
            for column in table.column_names:
                if column not in EXPORT_TYPES and not pa.types.is_string(table.schema.field(column).type):
                    index = table.column_names.index(column)
                    table = table.set_column(index, column, table.column(column).cast(pa.string()))
            yield table.rename_columns(["day" if c == "date" else c for c in table.column_names])
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ReportDataError(f"{what} is not a CSV export that can be read: {str(exc)[:200]}", "Run again.") from None


def export_rows(table: pa.Table, enterprise: str, load_id: str | None) -> pa.Table:
    """Rows of the export as loaded: the enterprise named, every key column present (text, "" where
    GitHub leaves one out), and the load's id."""
    table = table.append_column("enterprise", pa.array([enterprise] * table.num_rows, pa.string()))
    for column in EXPORT_KEY:
        if column not in table.column_names:
            table = table.append_column(column, pa.array([""] * table.num_rows, pa.string()))
    if load_id is not None:
        table = table.append_column("_dlt_load_id", pa.array([load_id] * table.num_rows, pa.string()))
    # key columns hold no nulls: declared so, as dlt declares primary keys
    fields = [f.with_nullable(False) if f.name in EXPORT_KEY else f for f in table.schema]
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))
