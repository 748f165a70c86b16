"""The example queries in the README run, and answer what the fake enterprise says they should."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import duckdb

from copilot_source.demo.fake_github import FakeGitHub
from tests.conftest import NEWEST, TODAY, make_pipeline, report_lines, run, small_enterprise

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_queries() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)
    statements = [s.strip() for block in blocks for s in block.split(";")]
    return [s for s in statements if s and not all(line.startswith("--") for line in s.splitlines())]


def test_the_readme_queries_answer_correctly(tmp_path: Path) -> None:
    enterprise = small_enterprise(first_report_day=NEWEST - timedelta(days=44), idle_after=NEWEST - timedelta(days=35))
    with FakeGitHub(enterprise, today=TODAY) as fake:
        pipeline = make_pipeline(tmp_path, "readme")
        run(pipeline, fake)
    idle_seats, daily, per_ide = readme_queries()
    with duckdb.connect(str(tmp_path / "readme.duckdb"), read_only=True) as db:
        idle = {row[0] for row in db.execute(idle_seats).fetchall()}
        daily_rows = db.execute(daily).fetchall()
        ide_rows = db.execute(per_ide).fetchall()

    # idle: never used, or last used more than 30 days before today
    expected_idle = set()
    for seat in enterprise.seats(TODAY):
        last = enterprise.last_active_day(seat["assignee"]["id"], TODAY)
        if last is None or last < TODAY - timedelta(days=30):
            team = (seat["assigning_team"] or {}).get("id", "")
            expected_idle.add(f"{seat['assignee']['id']}:{seat['organization']['id']}:{team}")
    assert idle == expected_idle
    assert len(idle) > 0

    days = enterprise.report_days()
    assert [row[0] for row in daily_rows] == days
    assert [row[1] for row in daily_rows] == [len(report_lines(fake, "users-1-day", d)) for d in days]

    loc_by_ide: dict[str, int] = {}
    for day in days:
        if day >= TODAY - timedelta(days=28):
            for line in report_lines(fake, "users-1-day", day):
                for element in line["totals_by_ide"]:
                    loc_by_ide[element["ide"]] = loc_by_ide.get(element["ide"], 0) + element["loc_added_sum"]
    assert dict(ide_rows) == loc_by_ide
    assert [row[1] for row in ide_rows] == sorted(loc_by_ide.values(), reverse=True)
