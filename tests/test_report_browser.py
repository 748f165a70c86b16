"""`pipelines/report.py` writes a page that a real browser renders offline, showing the views' numbers.

The fake enterprise is loaded by the real source (plus team membership and AI-credit billing in the
source's layout), the report script runs as a user runs it, and Debian's Chromium (headless, driven
by Playwright, which never downloads a browser here) opens the file: every chart must draw, the
console must stay clean, no request may leave the file, and the numbers on the page must equal the
views'. Set COPILOT_REPORT_SCREENSHOT=<path> to keep the screenshot.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest

from copilot_source.demo.fake_github import FakeGitHub
from tests.conftest import NEWEST, TODAY, TOKEN, make_pipeline, run, small_enterprise
from tests.scripts import PIPELINES, fake_env, run_script

REPORT = PIPELINES / "report.py"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHARTS = (
    "chart-active-users",
    "chart-acceptance",
    "chart-adoption",
    "chart-lines",
    "chart-ide",
    "chart-language",
    "chart-model",
    "chart-seats",
    "chart-seat-changes",
    "chart-teams",
    "chart-credits",
    "chart-credit-models",
)
# marks drawn by plotly: line paths and bar rectangles with a shape
DRAWN = (
    "Array.from(document.querySelectorAll('#ID .scatterlayer path.js-line, #ID .barlayer path'))"
    ".filter(p => (p.getAttribute('d') || '').length > 4).length"
)


def browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[dev]'"
    return None


@pytest.fixture
def browser_page() -> Iterator[Any]:
    missing = browser_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="copilot-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                args=LAUNCH_FLAGS,
                headless=True,
                viewport={"width": 1400, "height": 1000},
                offline=True,
            )
            try:
                yield context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def view_rows(pipeline: dlt.Pipeline, name: str, order: str = "1, 2") -> list[dict[str, Any]]:
    with pipeline.sql_client() as client:
        sql = f"SELECT * FROM {client.make_qualified_table_name(name)} ORDER BY {order}"
        with client.execute_query(sql) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def load_report_data(tmp: Path) -> tuple[dlt.Pipeline, dict[str, str]]:
    """The configured pipeline (`github_copilot`, DuckDB in the working folder), loaded from the fake,
    and the environment that configures it."""
    enterprise = small_enterprise(
        user_count=30,
        first_report_day=NEWEST - timedelta(days=34),
        idle_after=NEWEST - timedelta(days=33),
        new_fields_from={"ai_credits_used": NEWEST - timedelta(days=10)},
    )
    pipeline = make_pipeline(tmp, "github_copilot")
    with FakeGitHub(enterprise, token=TOKEN, today=TODAY) as fake:
        # the enterprise with its teams and AI credits, as the source loads them
        run(pipeline, fake, billing=True, billing_poll_interval=0.01)
        env = fake_env(fake)
    return pipeline, env


def chart_data(page: Any, chart: str) -> list[dict[str, Any]]:
    return list(page.evaluate(f"document.getElementById('{chart}').data.map(t => ({{name: t.name, x: t.x, y: t.y}}))"))


def test_the_report_renders_in_chromium_with_the_views_numbers(tmp_path: Path, browser_page: Any) -> None:
    pipeline, env = load_report_data(tmp_path)
    result = run_script(REPORT, tmp_path, env)
    assert result.returncode == 0, result.stderr
    report = tmp_path / "github_copilot_report.html"
    assert f"Wrote {report}" in result.stdout
    assert "demo" not in result.stderr
    assert TOKEN not in report.read_text()

    page = browser_page
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.plotly-graph-div')).every(d => d.querySelector('.main-svg'))",
        timeout=60_000,
    )
    shot = Path(os.environ.get("COPILOT_REPORT_SCREENSHOT") or tmp_path / "report.png")
    page.screenshot(path=str(shot), full_page=True)
    assert problems == []
    assert requests == [report.as_uri()]  # nothing but the file itself: plotly.js is inlined
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 100_000

    shown = page.evaluate("Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => d.id)")
    assert sorted(shown) == sorted(CHARTS)
    for chart in CHARTS:
        assert page.evaluate(DRAWN.replace("ID", chart)) > 0, f"{chart} drew nothing"

    # headline numbers: the newest row of each view
    metrics = dict(
        page.evaluate(
            "Array.from(document.querySelectorAll('[data-metric]')).map(e => [e.dataset.metric, e.dataset.value])"
        )
    )
    active = view_rows(pipeline, "active_users_by_day")
    assert metrics["active_users"] == str(active[-1]["active_users"])
    assert metrics["active_users_7d"] == str(active[-1]["active_users_7d"])
    assert metrics["active_users_28d"] == str(active[-1]["active_users_28d"])
    acceptance = view_rows(pipeline, "acceptance_by_week")
    assert float(metrics["completion_acceptance_rate"]) == acceptance[-1]["completion_acceptance_rate"]
    seats = view_rows(pipeline, "seat_utilization")[-1]
    assert metrics["seated_users"] == str(seats["seated_users"])
    assert float(metrics["utilization_28d"]) == seats["utilization_28d"]
    idle = view_rows(pipeline, "idle_seats")
    assert metrics["idle_seats"] == str(len(idle)) and len(idle) > 0
    assert page.locator("#idle-seats tbody tr").count() == len(idle)
    credits = view_rows(pipeline, "ai_credits_by_user")
    newest_month = max(r["month_start"] for r in credits)
    month_total = sum(r["ai_credits_used"] for r in credits if r["month_start"] == newest_month)
    assert float(metrics["ai_credits_month"]) == pytest.approx(month_total, rel=1e-12)

    # the charts plot the views' rows
    traces = {t["name"]: t for t in chart_data(page, "chart-active-users")}
    assert traces["Daily"]["x"] == [r["day"].isoformat() for r in active]
    assert traces["Daily"]["y"] == [r["active_users"] for r in active]
    assert traces["7 days"]["y"] == [r["active_users_7d"] for r in active]
    assert traces["28 days"]["y"] == [r["active_users_28d"] for r in active]
    ides = view_rows(pipeline, "ide_usage_by_week", order="ide, week_start")
    for trace in chart_data(page, "chart-ide"):
        rows = [r for r in ides if r["ide"] == trace["name"]]
        assert trace["y"] == [r["active_users"] for r in rows] and rows
    bars = chart_data(page, "chart-seats")[0]["y"]
    assert bars == [seats["seated_users"], seats["active_users_7d"], seats["active_users_28d"], seats["idle_users_30d"]]
    freshness = page.locator("header").inner_text()
    assert f"to {active[-1]['day'].isoformat()} (newest day loaded)" in freshness
    pending = (active[-1]["day"] + timedelta(days=1), TODAY - timedelta(days=1))
    assert f"Not yet available: {pending[0].isoformat()} to {pending[1].isoformat()}" in freshness


def test_the_report_without_demo_data_says_what_to_run(tmp_path: Path) -> None:
    result = run_script(REPORT, tmp_path, {}, "--demo")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: [analytics_failed] No demo data here:")
    assert "python pipelines/load.py --demo" in result.stderr and "Traceback" not in result.stderr
