"""The Arrow fast path loads exactly the tables the plain-Python reference path loads."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.reports import arrow as arrow_reports
from tests.compare import assert_same_data, data_tables
from tests.conftest import NEWEST, make_pipeline, report_lines, run


def test_fast_path_tables_equal_the_reference_tables(tmp_path: Path, fake: FakeGitHub) -> None:
    ent = fake.enterprise
    ent.enterprise_report_shape = "wrapper"
    ent.new_fields_from = {"ai_credits_used": NEWEST - timedelta(days=4), "used_copilot_app": NEWEST}
    fake.file_encoding = "gzip-body"
    fast = make_pipeline(tmp_path, "fast")
    reference = make_pipeline(tmp_path, "reference")
    run(fast, fake, fast_path=True)
    run(reference, fake, fast_path=False)
    # a second run re-reads the trailing days: both paths must merge them the same way
    ent.revisions[NEWEST - timedelta(days=1)] = 5
    run(fast, fake, fast_path=True)
    run(reference, fake, fast_path=False)

    assert "users_1_day__totals_by_model_feature" in data_tables(fast)
    # same tables, column types, rows (dlt's own columns aside) and cursors
    assert_same_data(fast, reference)


def test_both_paths_load_drifting_types_and_mixed_shapes_alike(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrow_reports, "CHUNK_BYTES", 20_000)  # chunks that cut across files and days
    ent = fake.enterprise
    for number, day in enumerate(ent.report_days()):
        lines = report_lines(fake, "users-1-day", day)
        for index, line in enumerate(lines):
            if number == 1:
                line["enterprise_id"] = int(line["enterprise_id"])
            line["new_ratio"] = 1 if index % 5 else 0.5
            if index % 7 == 0:
                line["loc_added_sum"] += 0.5
            if index % 11 == 0:
                line["used_chat"] = "maybe"
                line["totals_by_ide"][0]["last_known_ide_version"]["sampled_at"] = "2025-11-15T23:59:19.7920000Z"
        fake.link_overrides[("users-1-day", day)] = [0]
        fake.file_overrides[("users-1-day", day, 0)] = "".join(json.dumps(line) + "\n" for line in lines).encode()
        if number % 2:
            (flat,) = report_lines(fake, "enterprise-1-day", day)
            wrapper = {"report_start_day": str(day), "report_end_day": str(day), "day_totals": [flat]}
            fake.file_overrides[("enterprise-1-day", day, 0)] = (json.dumps(wrapper) + "\n").encode()
    fast = make_pipeline(tmp_path, "fast")
    reference = make_pipeline(tmp_path, "reference")
    reports = ("users_1_day", "enterprise_metrics")
    run(fast, fake, resources=reports, fast_path=True)
    run(reference, fake, resources=reports, fast_path=False)

    assert_same_data(fast, reference)
