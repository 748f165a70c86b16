"""The Arrow fast path loads exactly the tables the plain-Python reference path loads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from copilot_source.demo.fake_github import FakeGitHub
from tests.compare import assert_same_data, data_tables
from tests.conftest import NEWEST, make_pipeline, run


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
