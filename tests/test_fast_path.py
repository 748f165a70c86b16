"""The Arrow fast path loads exactly the tables the plain-Python reference path loads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt

from copilot_source.fake_github import FakeGitHub
from tests.conftest import NEWEST, make_pipeline, rows, run


def data_tables(pipeline: dlt.Pipeline) -> list[str]:
    return sorted(t for t in pipeline.default_schema.data_table_names() if not t.startswith("_dlt"))


def table_content(pipeline: dlt.Pipeline, table: str) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    described = {r[0]: r[1] for r in rows(pipeline, f"DESCRIBE {table}") if not r[0].startswith("_dlt")}
    columns = sorted(described)
    listed = ", ".join(f'"{c}"' for c in columns)
    content = rows(pipeline, f"SELECT {listed} FROM {table} ORDER BY {listed}")
    return described, content


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

    tables = data_tables(fast)
    assert tables == data_tables(reference)
    assert "users_1_day__totals_by_model_feature" in tables
    for table in tables:
        fast_types, fast_rows = table_content(fast, table)
        reference_types, reference_rows = table_content(reference, table)
        assert fast_types == reference_types, table
        assert fast_rows == reference_rows, table
        assert fast_rows, table
