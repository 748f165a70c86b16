"""Type drift never fails a load and never loses a value, on both paths.

A field may change its JSON type between lines, chunks, files, days and runs. Every value the
fake served is read back from DuckDB and compared with its JSON: it is in the field's column or in
exactly one of dlt's variant columns (`<column>__v_<type>`), unrounded. The Arrow fast path and
the plain-Python path load the same tables.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub
from copilot_source.reports import arrow as arrow_reports
from tests.compare import all_tables
from tests.conftest import NEWEST, TODAY, TOKEN, make_pipeline, report_lines, rows, run, small_enterprise

USERS = "users-1-day"
ENTERPRISE_ID = FakeEnterprise().enterprise_id


@pytest.fixture
def enterprise() -> FakeEnterprise:
    return small_enterprise(first_report_day=NEWEST - timedelta(days=3), user_count=60)


def as_file(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def table(pipeline: dlt.Pipeline, name: str) -> list[dict[str, Any]]:
    with pipeline.sql_client() as client, client.execute_query(f"SELECT * FROM {name}") as cursor:
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def column_types(pipeline: dlt.Pipeline, name: str) -> dict[str, str]:
    return {r[0]: r[1] for r in rows(pipeline, f"DESCRIBE {name}")}


# ---- the oracle: a JSON value and what DuckDB holds for it ------------------------------------


def expected_moment(text: str) -> datetime | None:
    """GitHub's timestamp text as a UTC moment to the microsecond (a 7th digit is cut off)."""
    if not (len(text) >= 20 and text.endswith("Z") and text[10] == "T" and text[19] == "."):
        return None
    whole, fraction = text[:19], text[20:-1]
    moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return moment + timedelta(microseconds=int(fraction[:6].ljust(6, "0")))


def same_value(sent: Any, stored: Any) -> bool:
    """Does `stored` (from DuckDB) hold the JSON value `sent` exactly, in some type?"""
    if isinstance(stored, str):
        return stored == (sent if isinstance(sent, str) else json.dumps(sent))
    if isinstance(sent, bool) or isinstance(stored, bool):
        return type(sent) is type(stored) and sent == stored
    if isinstance(stored, datetime):
        return isinstance(sent, str) and expected_moment(sent) == stored
    if isinstance(stored, date):
        return isinstance(sent, str) and sent == stored.isoformat()
    if isinstance(sent, (int, float)) and isinstance(stored, (int, float)):
        return math.isfinite(stored) and Decimal(sent) == Decimal(stored)
    return False


def family(row: dict[str, Any], column: str) -> dict[str, Any]:
    """The non-null values of a column and its variant columns in one row."""
    return {
        name: value
        for name, value in row.items()
        if value is not None and (name == column or name.startswith(f"{column}__v_"))
    }


def assert_holds(row: dict[str, Any], column: str, sent: Any) -> None:
    """`sent` (a JSON value, or absent/null as None) is in exactly one column of its family."""
    if isinstance(sent, dict):
        assert family(row, column) == {}, column
        for key, value in sent.items():
            assert_holds(row, f"{column}__{key}", value)
        return
    found = family(row, column)
    if sent is None:
        assert found == {}, (column, found)
        return
    assert len(found) == 1, (column, sent, found)
    ((name, stored),) = found.items()
    assert same_value(sent, stored), (name, sent, stored)


# ---- reproductions -----------------------------------------------------------------------------


@pytest.mark.parametrize("fast_path", [True, False], ids=["arrow", "python"])
def test_a_new_field_whole_then_fractional_loads_every_value_and_later_days(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, fast_path: bool
) -> None:
    # a new numeric field: 1 for the first 90 % of a day's users, 0.5 after, read in several chunks
    monkeypatch.setattr(arrow_reports, "CHUNK_BYTES", 40_000)
    enterprise = fake.enterprise
    enterprise.newest_report_day = NEWEST - timedelta(days=1)
    day = enterprise.newest_report_day
    lines = report_lines(fake, USERS, day)
    cut = len(lines) * 9 // 10
    for number, line in enumerate(lines):
        line["copilot_share"] = 1 if number < cut else 0.5
    fake.link_overrides[(USERS, day)] = [0]
    fake.file_overrides[(USERS, day, 0)] = as_file(lines)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)

    assert column_types(pipeline, "users_1_day")["copilot_share"] == "DOUBLE"
    assert rows(pipeline, "SELECT count(copilot_share), sum(copilot_share) FROM users_1_day") == [
        (len(lines), cut + 0.5 * (len(lines) - cut))
    ]
    # the next day loads: nothing is stuck on the day of the change
    enterprise.newest_report_day = NEWEST
    run(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)
    assert rows(pipeline, "SELECT max(day) FROM users_1_day") == [(NEWEST,)]


def test_enterprise_id_text_one_day_and_a_number_the_next_is_one_text_column(tmp_path: Path, fake: FakeGitHub) -> None:
    enterprise = fake.enterprise
    numeric_day = enterprise.report_days()[1]
    lines = report_lines(fake, USERS, numeric_day)
    for line in lines:
        line["enterprise_id"] = int(line["enterprise_id"])
    fake.link_overrides[(USERS, numeric_day)] = [0]
    fake.file_overrides[(USERS, numeric_day, 0)] = as_file(lines)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",))

    for name in ("users_1_day", "users_1_day__totals_by_ide"):
        assert column_types(pipeline, name)["enterprise_id"] == "VARCHAR"
        assert rows(pipeline, f"SELECT DISTINCT enterprise_id FROM {name}") == [(ENTERPRISE_ID,)]
    assert rows(pipeline, f"SELECT count(*) FROM users_1_day WHERE day = DATE '{numeric_day}'") == [(len(lines),)]


DRIFT: dict[str, list[Any]] = {
    # field: values in the order of lines (None: absent), each a kind of drift
    "loc_added_sum": [3, 2.5, "12", 2**70, True, 7.0],  # a declared counter
    "ai_credits_used": [1, 0.25, 2**60, "n/a", 2**64 + 1],  # a declared decimal
    "used_chat": [True, 1, "yes", None, False],  # a declared flag
    "surface": ["desktop", 4, 0.5, False, {"kind": "web"}],  # undeclared, text first
    "ratio": [2, 2.5, 10**17, "x", None, {"v": 1}],  # undeclared, number first
    "totals_by_cli": [5, {"session_count": 2, "token_usage": {"avg_tokens_per_request": 3}}, None],
    "last_seen": ["2025-11-15T23:59:19.7920000Z", "2025-11-15T23:59:19.792Z", "not a time"],
}


@pytest.mark.parametrize("fast_path", [True, False], ids=["arrow", "python"])
def test_every_kind_of_drift_keeps_every_value(tmp_path: Path, fake: FakeGitHub, fast_path: bool) -> None:
    days = fake.enterprise.report_days()
    served: dict[tuple[date, int], dict[str, Any]] = {}
    for day_number, day in enumerate(days):
        lines = report_lines(fake, USERS, day)
        for number, line in enumerate(lines):
            for field, values in DRIFT.items():
                line.pop(field, None)
                value = values[(number + day_number) % len(values)]
                if value is not None:
                    line[field] = value
            served[(day, line["user_id"])] = line
        # the drift crosses lines, files (two per day) and days
        half = len(lines) // 2
        fake.file_overrides[(USERS, day, 0)] = as_file(lines[:half])
        fake.file_overrides[(USERS, day, 1)] = as_file(lines[half:])
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",), fast_path=fast_path)

    loaded = table(pipeline, "users_1_day")
    assert len(loaded) == len(served)
    for row in loaded:
        line = served[(row["day"], row["user_id"])]
        for field in DRIFT:
            assert_holds(row, field, line.get(field))
    types = column_types(pipeline, "users_1_day")
    # declared types hold; what does not fit them sits beside them
    assert (types["loc_added_sum"], types["loc_added_sum__v_double"], types["loc_added_sum__v_text"]) == (
        "BIGINT",
        "DOUBLE",
        "VARCHAR",
    )
    assert (types["ai_credits_used"], types["ai_credits_used__v_bigint"]) == ("DOUBLE", "BIGINT")
    assert types["used_chat"] == "BOOLEAN"
    assert (types["surface"], types["ratio"]) == ("VARCHAR", "DOUBLE")
    assert types["last_seen"] == "VARCHAR"  # undeclared: text, whatever it looks like


def test_a_column_keeps_the_type_of_the_first_run(tmp_path: Path, fake: FakeGitHub) -> None:
    enterprise = fake.enterprise
    first_day, second_day = enterprise.report_days()[-2:]
    enterprise.newest_report_day = first_day
    lines = report_lines(fake, USERS, first_day)
    for line in lines:
        line.update(label="green", score=1, sampled_at="2025-11-15T23:59:19.792Z")
    fake.link_overrides[(USERS, first_day)] = [0]
    fake.file_overrides[(USERS, first_day, 0)] = as_file(lines)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("users_1_day",))

    enterprise.newest_report_day = second_day
    later = report_lines(fake, USERS, second_day)
    for line in later:
        line.update(label=7, score="high", sampled_at="2025-11-16T00:00:00.1234567Z")
    fake.link_overrides[(USERS, second_day)] = [0]
    fake.file_overrides[(USERS, second_day, 0)] = as_file(later)
    run(pipeline, fake, resources=("users_1_day",), lookback_days=0)

    types = column_types(pipeline, "users_1_day")
    assert (types["label"], types["score"], types["score__v_text"]) == ("VARCHAR", "DOUBLE", "VARCHAR")
    assert types["sampled_at"] == "TIMESTAMP WITH TIME ZONE"
    assert rows(
        pipeline, f"SELECT DISTINCT label, score__v_text, sampled_at FROM users_1_day WHERE day = '{second_day}'"
    ) == [("7", "high", datetime(2025, 11, 16, 0, 0, 0, 123456, tzinfo=timezone.utc))]


# ---- generated drift -------------------------------------------------------------------------

scalars = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.sampled_from(["", "a", "4242", "2025-11-15", "2025-11-15T23:59:19.7920000Z", "true", "1.5"]),
    st.text(max_size=6),
)
values = st.one_of(st.none(), scalars, st.fixed_dictionaries({"a": st.one_of(st.none(), scalars)}))
FIELDS = ("extra", "loc_deleted_sum", "avg_gain", "used_agent", "enterprise_note")
lines_of_a_day = st.lists(st.fixed_dictionaries({f: values for f in FIELDS}), min_size=1, max_size=8)
# no shrinking: each example runs pipelines, and a failing one is printed as it was generated
DRIFT_SETTINGS = settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=[Phase.explicit, Phase.generate],
)


@DRIFT_SETTINGS
@given(days=st.lists(lines_of_a_day, min_size=2, max_size=3), files=st.integers(1, 3), second_run=st.integers(1, 2))
def test_generated_drift_across_lines_chunks_files_days_and_runs_loads_every_value(
    tmp_path_factory: pytest.TempPathFactory, days: list[list[dict[str, Any]]], files: int, second_run: int
) -> None:
    folder = tmp_path_factory.mktemp("drift")
    first = NEWEST - timedelta(days=len(days) - 1)
    enterprise = small_enterprise(first_report_day=first, newest_report_day=NEWEST)
    served: dict[tuple[date, int], dict[str, Any]] = {}
    with FakeGitHub(enterprise, token=TOKEN, today=TODAY) as fake:
        for offset, fields in enumerate(days):
            day = first + timedelta(days=offset)
            lines = [
                {
                    "user_id": 1 + n,
                    "day": str(day),
                    "enterprise_id": ENTERPRISE_ID,
                    **{k: v for k, v in f.items() if v is not None},
                }
                for n, f in enumerate(fields)
            ]
            served.update(((day, line["user_id"]), line) for line in lines)
            parts = [lines[i::files] for i in range(files)]
            fake.link_overrides[(USERS, day)] = list(range(files))
            for index, part in enumerate(parts):
                fake.file_overrides[(USERS, day, index)] = as_file(part)
        fast = make_pipeline(folder, "drift_fast")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(arrow_reports, "CHUNK_BYTES", 300)  # a few lines per chunk
            # two runs: the days up to `second_run - 1` first, then the rest
            enterprise.newest_report_day = first + timedelta(days=second_run - 1)
            run(fast, fake, resources=("users_1_day",), lookback_days=0)
            enterprise.newest_report_day = NEWEST
            run(fast, fake, resources=("users_1_day",), lookback_days=0)
        # the plain-Python path in one run decides the same types from the same first values
        reference = make_pipeline(folder, "drift_reference")
        run(reference, fake, resources=("users_1_day",), fast_path=False, lookback_days=0)

    loaded = table(fast, "users_1_day")
    assert len(loaded) == len(served)
    for row in loaded:
        line = served[(row["day"], row["user_id"])]
        for field in FIELDS:
            assert_holds(row, field, line.get(field))
    assert all_tables(fast) == all_tables(reference)


def test_a_decimal_whose_first_values_are_whole_keeps_its_fractions_later(tmp_path: Path, fake: FakeGitHub) -> None:
    enterprise = fake.enterprise
    first_day, second_day = enterprise.report_days()[-2:]

    def phases(day: date, average: float) -> None:
        (line,) = report_lines(fake, "enterprise-1-day", day)
        line["totals_by_ai_adoption_phase"] = [
            {"phase": "Phase 1", "phase_number": 1, "total_engaged_users": 3, "avg_loc_added": average, "gain": average}
        ]
        fake.file_overrides[("enterprise-1-day", day, 0)] = as_file([line])

    enterprise.newest_report_day = first_day
    phases(first_day, 2)
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("enterprise_metrics",))
    enterprise.newest_report_day = second_day
    phases(second_day, 2.5)
    run(pipeline, fake, resources=("enterprise_metrics",))

    name = "enterprise_metrics__totals_by_ai_adoption_phase"
    types = column_types(pipeline, name)
    assert (types["avg_loc_added"], types["gain"], types["phase_number"]) == ("DOUBLE", "DOUBLE", "BIGINT")
    assert rows(pipeline, f"SELECT day, avg_loc_added, gain FROM {name} ORDER BY day") == [
        (first_day, 2.0, 2.0),
        (second_day, 2.5, 2.5),
    ]
