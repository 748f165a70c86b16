"""Render the adoption report as one self-contained HTML page.

plotly.js is inlined once and each chart is a plotly figure, so the file opens offline in any
browser and asks the network for nothing. Headline numbers carry their raw value in
`data-value` and their view in `data-metric`, so a test can compare them with the views.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from copilot_source.analytics.report import ReportData, Rows
from copilot_source.errors import AnalyticsFailed

try:
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs
except ImportError:  # pragma: no cover - the message is the point
    go = None

CHART_HEIGHT = 340
IDLE_ROWS_SHOWN = 100
# bars of a few days or months: one labelled bar each, not a time axis
CATEGORY = {"type": "category"}
TOP_ROWS_SHOWN = 15
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f8fa;color:#1f2328}
header{background:#24292f;color:#fff;padding:18px 28px}header h1{margin:0 0 6px;font-size:22px}
header p{margin:2px 0;font-size:13px;color:#d0d7de}main{padding:18px 28px;max-width:1400px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px;margin-bottom:18px}
.kpi{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px}
.kpi .value{font-size:24px;font-weight:600}.kpi .label{font-size:12px;color:#57606a;margin-top:4px}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}
@media (max-width:1000px){.grid{grid-template-columns:minmax(0,1fr)}}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 14px;margin-bottom:16px}
section h2{font-size:15px;margin:0 0 6px}section p.note{font-size:12px;color:#57606a;margin:0 0 6px}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eaeef2}
"""


def _text(value: Any) -> str:
    return html.escape(str(value))


def fmt_int(value: Any) -> str:
    return "n/a" if value is None else f"{int(value):,}"


def fmt_pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f}%"


def fmt_num(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):,.1f}"


def fmt_usd(value: Any) -> str:
    return "n/a" if value is None else f"${float(value):,.2f}"


def iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def kpi(label: str, metric: str, value: Any, fmt: Callable[[Any], str]) -> str:
    raw = "" if value is None else str(value)
    return (
        f'<div class="kpi"><div class="value" data-metric="{_text(metric)}" data-value="{_text(raw)}">'
        f'{_text(fmt(value))}</div><div class="label">{_text(label)}</div></div>'
    )


def chart(div_id: str, title: str, traces: list[Any], note: str = "", **layout: Any) -> str:
    figure = go.Figure(data=traces)
    figure.update_layout(
        template="plotly_white",
        height=CHART_HEIGHT,
        margin={"l": 50, "r": 20, "t": 10, "b": 40},
        legend={"orientation": "h", "y": -0.15},
        **layout,
    )
    body = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
        default_height=f"{CHART_HEIGHT}px",
    )
    paragraph = f'<p class="note">{_text(note)}</p>' if note else ""
    return f"<section><h2>{_text(title)}</h2>{paragraph}{body}</section>"


def by_id(rows: Rows, id_column: str) -> dict[str, Rows]:
    groups: dict[str, Rows] = defaultdict(list)
    for row in rows:
        groups[str(row.get(id_column))].append(row)
    return dict(groups)


def lines(rows: Rows, id_column: str, x: str, series: Iterable[tuple[str, str]], **style: Any) -> list[Any]:
    """One line per (column, label), and per scope id when there are several."""
    groups = by_id(rows, id_column)
    traces = []
    for scope_id, group in groups.items():
        suffix = f" ({scope_id})" if len(groups) > 1 else ""
        for column, label in series:
            traces.append(
                go.Scatter(
                    x=[iso(r[x]) for r in group],
                    y=[r[column] for r in group],
                    name=label + suffix,
                    mode="lines+markers",
                    **style,
                )
            )
    return traces


def per_value(rows: Rows, x: str, dimension: str, y: str) -> list[Any]:
    """One line per value of a dimension (IDE, language, model, team)."""
    groups: dict[str, Rows] = defaultdict(list)
    for row in rows:
        groups[str(row[dimension])].append(row)
    return [
        go.Scatter(x=[iso(r[x]) for r in group], y=[r[y] for r in group], name=name, mode="lines+markers")
        for name, group in sorted(groups.items())
    ]


def table(headers: list[str], rows: Iterable[list[Any]], table_id: str) -> str:
    head = "".join(f"<th>{_text(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_text(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def headline(data: ReportData) -> str:
    cards = []
    active = data.rows("active_users_by_day")
    if active:
        newest = active[-1]
        cards += [
            kpi(f"Active users on {iso(newest['day'])}", "active_users", newest["active_users"], fmt_int),
            kpi("Active users, last 7 days", "active_users_7d", newest["active_users_7d"], fmt_int),
            kpi("Active users, last 28 days", "active_users_28d", newest["active_users_28d"], fmt_int),
        ]
    months = data.rows("adoption_by_month")
    if months:
        current = months[-1]
        cards += [
            kpi(
                f"Active users in {current['month_start']:%B %Y}",
                "month_active_users",
                current["active_users"],
                fmt_int,
            ),
            kpi("Agent adoption this month", "agent_adoption", current["agent_adoption"], fmt_pct),
        ]
    acceptance = data.rows("acceptance_by_week")
    if acceptance:
        week = acceptance[-1]
        label = f"Completion acceptance, week of {iso(week['week_start'])}"
        cards.append(kpi(label, "completion_acceptance_rate", week["completion_acceptance_rate"], fmt_pct))
    loc = data.rows("lines_of_code_by_week")
    if loc:
        week = loc[-1]
        cards += [
            kpi(f"Lines added, week of {iso(week['week_start'])}", "loc_added", week["loc_added"], fmt_int),
            kpi("Share added by agents", "agent_share_of_lines_added", week["agent_share_of_lines_added"], fmt_pct),
        ]
    seats = data.rows("seat_utilization")
    if seats:
        snapshot = seats[-1]
        cards += [
            kpi(f"Seated people on {iso(snapshot['snapshot_day'])}", "seated_users", snapshot["seated_users"], fmt_int),
            kpi("Seat utilisation, last 28 days", "utilization_28d", snapshot["utilization_28d"], fmt_pct),
            kpi("Idle seats (no activity in 30 days)", "idle_seats", len(data.rows("idle_seats")), fmt_int),
        ]
    credits = data.rows("ai_credits_by_user")
    if credits:
        month = max(r["month_start"] for r in credits)
        used = sum(float(r["ai_credits_used"] or 0) for r in credits if r["month_start"] == month)
        cards.append(kpi(f"AI credits used in {month:%B %Y}", "ai_credits_month", used, fmt_num))
    return f'<div class="kpis">{"".join(cards)}</div>'


def usage_sections(data: ReportData) -> list[str]:
    sections = []
    ids = data.id_column
    if data.rows("active_users_by_day"):
        series = [("active_users", "Daily"), ("active_users_7d", "7 days"), ("active_users_28d", "28 days")]
        note = "Distinct people, never sums of days. A window reaching before the first loaded day is left empty."
        traces = lines(data.rows("active_users_by_day"), ids, "day", series)
        sections.append(chart("chart-active-users", "Active users", traces, note))
    if data.rows("acceptance_by_week"):
        series = [("completion_acceptance_rate", "Code completions (by count)"), ("line_acceptance_rate", "Lines")]
        traces = lines(data.rows("acceptance_by_week"), ids, "week_start", series)
        sections.append(chart("chart-acceptance", "Acceptance rate per week", traces, yaxis={"tickformat": ".0%"}))
    if data.rows("adoption_by_month"):
        rows = data.rows("adoption_by_month")
        traces = [
            go.Bar(x=[iso(r["month_start"]) for r in rows], y=[r[column] for r in rows], name=label)
            for column, label in (
                ("active_users", "Active"),
                ("agent_users", "Agent"),
                ("chat_users", "Chat"),
                ("cli_users", "CLI"),
            )
        ]
        sections.append(chart("chart-adoption", "People per calendar month", traces, barmode="group", xaxis=CATEGORY))
    if data.rows("lines_of_code_by_week"):
        rows = data.rows("lines_of_code_by_week")
        weeks = [iso(r["week_start"]) for r in rows]
        traces = [
            go.Bar(x=weeks, y=[r["loc_added"] for r in rows], name="Lines added"),
            go.Bar(x=weeks, y=[r["loc_deleted"] for r in rows], name="Lines deleted"),
            go.Scatter(x=weeks, y=[r["agent_share_of_lines_added"] for r in rows], name="Agent share", yaxis="y2"),
        ]
        axis2 = {"overlaying": "y", "side": "right", "tickformat": ".0%", "rangemode": "tozero"}
        sections.append(chart("chart-lines", "Lines of code per week", traces, barmode="group", yaxis2=axis2))
    for name, dimension, title in (
        ("ide_usage_by_week", "ide", "Active users per IDE and week"),
        ("language_usage_by_week", "language", "Active users per language and week"),
        ("model_usage_by_week", "model", "Active users per model and week"),
    ):
        if data.rows(name):
            traces = per_value(data.rows(name), "week_start", dimension, "active_users")
            sections.append(chart(f"chart-{dimension}", title, traces))
    return sections


def seat_sections(data: ReportData) -> list[str]:
    sections = []
    seats = data.rows("seat_utilization")
    if seats:
        snapshot = seats[-1]
        labels = ["Seated people", "Active, 7 days", "Active, 28 days", "Idle, 30 days"]
        values = [snapshot[c] for c in ("seated_users", "active_users_7d", "active_users_28d", "idle_users_30d")]
        note = f"Seat list of {iso(snapshot['snapshot_day'])}; a person with several seats counts once."
        traces = [go.Bar(x=labels, y=values, name="People", text=values, textposition="auto")]
        sections.append(chart("chart-seats", "Seat utilisation", traces, note))
    changes = data.rows("seat_changes_by_day")
    if changes:
        days = [iso(r["day"]) for r in changes]
        traces = [
            go.Bar(x=days, y=[r[c] for r in changes], name=label)
            for c, label in (("seats_added", "Added"), ("seats_removed", "Removed"), ("seats_changed", "Changed"))
        ]
        title = "Seat changes per day (as first seen by a load)"
        sections.append(chart("chart-seat-changes", title, traces, xaxis=CATEGORY))
    idle = data.rows("idle_seats")
    if seats:
        ordered = sorted(idle, key=lambda r: (r["days_idle"] is not None, -(r["days_idle"] or 0), str(r["user_login"])))
        shown = [
            [r["user_login"], iso(r["last_activity_at"] or "never (or over 90 days)"), fmt_int(r["days_idle"])]
            for r in ordered[:IDLE_ROWS_SHOWN]
        ]
        more = f" ({len(idle) - IDLE_ROWS_SHOWN} more in the idle_seats view)" if len(idle) > IDLE_ROWS_SHOWN else ""
        sections.append(
            f'<section><h2>Idle seats: {len(idle)}</h2><p class="note">No activity in the 30 days up to'
            f" the newest seat list{more}.</p>{table(['Login', 'Last activity', 'Days idle'], shown, 'idle-seats')}"
            "</section>"
        )
    return sections


def optional_sections(data: ReportData) -> list[str]:
    sections = []
    teams = data.rows("team_usage_by_week")
    if teams:
        traces = per_value(teams, "week_start", "team_slug", "active_users")
        note = "People on several teams count in each; GitHub leaves out teams under five seats."
        sections.append(chart("chart-teams", "Active users per team and week", traces, note))
    credits = data.rows("ai_credits_by_user")
    if credits:
        months: dict[Any, float] = defaultdict(float)
        for row in credits:
            months[row["month_start"]] += float(row["ai_credits_used"] or 0)
        traces = [go.Bar(x=[iso(m) for m in sorted(months)], y=[months[m] for m in sorted(months)], name="AI credits")]
        note = "Credits used (users-1-day ai_credits_used); one credit is USD 0.01 before included credits."
        sections.append(chart("chart-credits", "AI credits used per month", traces, note, xaxis=CATEGORY))
        newest = max(months)
        top = sorted((r for r in credits if r["month_start"] == newest), key=lambda r: -float(r["ai_credits_used"]))
        rows = [
            [r["user_login"], fmt_num(r["ai_credits_used"]), fmt_usd(r["ai_credits_usd"])] for r in top[:TOP_ROWS_SHOWN]
        ]
        sections.append(
            f"<section><h2>Top AI-credit users, {newest:%B %Y}</h2>"
            f"{table(['Login', 'Credits', 'USD'], rows, 'top-credit-users')}</section>"
        )
    models = data.rows("ai_credits_billed_by_model")
    if models:
        traces = per_value(models, "month_start", "model", "net_usd")
        sections.append(chart("chart-credit-models", "Billed AI credits per model (net USD)", traces))
    return sections


def freshness(data: ReportData) -> str:
    parts = []
    days = data.days
    if days:
        parts.append(f"Usage data from {iso(days[0])} to {iso(days[-1])} (newest day loaded).")
    missing = data.missing_days
    if missing:
        parts.append(f"Days without a report: {', '.join(iso(d) for d in missing)}.")
    pending = data.not_yet_available
    if pending:
        parts.append(
            f"Not yet available: {iso(pending[0])} to {iso(pending[1])}"
            " (GitHub publishes a day 2-3 days after it ends)."
        )
    seats = data.rows("seat_utilization")
    if seats:
        parts.append(f"Newest seat list: {iso(seats[-1]['snapshot_day'])}.")
    parts.append(f"Report made for {iso(data.today)}.")
    return "".join(f'<p id="freshness-{i}">{_text(p)}</p>' for i, p in enumerate(parts))


def render(data: ReportData) -> str:
    if go is None:
        raise AnalyticsFailed(
            "The report needs the plotly package, which is not installed.",
            "pip install 'copilot-source[report]' (or pip install -e '.[report]' in a checkout).",
        )
    sections = usage_sections(data) + seat_sections(data) + optional_sections(data)
    half = [s for s in sections if "plotly-graph-div" in s]
    rest = [s for s in sections if "plotly-graph-div" not in s]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_text(data.title)}</title><style>{STYLE}</style>
<script>{get_plotlyjs()}</script></head>
<body><header><h1>{_text(data.title)}</h1>{freshness(data)}</header>
<main>{headline(data)}<div class="grid">{"".join(half)}</div>{"".join(rest)}</main></body></html>
"""
