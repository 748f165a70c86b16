"""The adoption report's data: the analytics views read back through dlt's SQL client.

`build_report(pipeline, today)` (re)creates the views, reads the ones the report shows and
renders a self-contained HTML page (`html.py`). Every number on the page is a value of a view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import dlt

from copilot_source.analytics.views import create_views, unreadable
from copilot_source.errors import AnalyticsFailed

# the views the report reads, without the scope prefix
SHOWN = (
    "active_users_by_day",
    "adoption_by_month",
    "acceptance_by_week",
    "lines_of_code_by_week",
    "ide_usage_by_week",
    "language_usage_by_week",
    "model_usage_by_week",
    "seat_utilization",
    "idle_seats",
    "seat_changes_by_day",
    "team_usage_by_week",
    "ai_credits_by_user",
    "ai_credits_billed_by_model",
)
Rows = list[dict[str, Any]]


@dataclass
class ReportData:
    """What the page shows: the rows of each view it reads, and how fresh the data is."""

    title: str
    id_column: str
    today: date
    views: dict[str, Rows] = field(default_factory=dict)

    def rows(self, name: str) -> Rows:
        return self.views.get(name, [])

    @property
    def days(self) -> list[date]:
        return [row["day"] for row in self.rows("active_users_by_day")]

    @property
    def missing_days(self) -> list[date]:
        """Days inside the loaded range without a report (GitHub had none, or not yet)."""
        days = self.days
        if not days:
            return []
        loaded = set(days)
        span = (days[-1] - days[0]).days
        return [days[0] + timedelta(n) for n in range(span + 1) if days[0] + timedelta(n) not in loaded]

    @property
    def not_yet_available(self) -> tuple[date, date] | None:
        """The days after the newest one loaded up to yesterday: GitHub publishes a day 2-3 days late."""
        days = self.days
        if not days or days[-1] >= self.today - timedelta(days=1):
            return None
        return days[-1] + timedelta(days=1), self.today - timedelta(days=1)


def read_view(pipeline: dlt.Pipeline, name: str) -> Rows:
    """A view's rows, column names lower-cased (some destinations fold them to upper case)."""
    try:
        with pipeline.sql_client() as client:
            sql = f"SELECT * FROM {client.make_qualified_table_name(name)} ORDER BY 1, 2"
            with client.execute_query(sql) as cursor:
                names = [d[0].lower() for d in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except Exception as exc:  # the destination's driver raises its own kinds
        raise unreadable(pipeline, exc) from None


def gather(pipeline: dlt.Pipeline, today: date) -> ReportData:
    """Create the views and read what the report shows: the enterprise's, else the organizations'."""
    created = set(create_views(pipeline))
    prefix = next(
        (p for p in ("", "org_") if f"{p}active_users_by_day" in created or f"{p}seat_utilization" in created), None
    )
    if prefix is None:
        raise AnalyticsFailed(
            f"Dataset {pipeline.dataset_name!r} of pipeline {pipeline.pipeline_name!r} holds no Copilot usage"
            " reports or seats yet.",
            "Load data first: python pipelines/load.py (or python pipelines/load.py --demo for the demo).",
        )
    id_column = "enterprise_id" if prefix == "" else "organization_id"
    scope = "enterprise" if prefix == "" else "organizations"
    data = ReportData(title=f"GitHub Copilot adoption ({scope})", id_column=id_column, today=today)
    for name in SHOWN:
        view = name if name.startswith("ai_credits_billed") else prefix + name
        if view in created:
            data.views[name] = read_view(pipeline, view)
    return data


def build_report(pipeline: dlt.Pipeline, today: date) -> str:
    """The report as one HTML page with everything inlined (plotly.js included once)."""
    from copilot_source.analytics.html import render

    return render(gather(pipeline, today))
