"""The typing rule and the line check as pure functions: what a JSON value becomes, and why not."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from copilot_source.reports.arrow import ReportParser
from copilot_source.reports.lines import LineProblem, day_rows, decode_line
from copilot_source.reports.rows import RowParser
from copilot_source.reports.types import MISFIT, ColumnTypes, declared_type, fit, parse_timestamp

UTC = timezone.utc


@pytest.mark.parametrize(
    ("value", "column_type", "expected"),
    [
        (4242, "text", "4242"),
        (0.5, "text", "0.5"),
        (True, "text", "true"),
        (7.0, "bigint", 7),
        (2.5, "bigint", MISFIT),
        (2**63, "bigint", MISFIT),
        (-(2**63), "bigint", -(2**63)),
        ("12", "bigint", MISFIT),
        (True, "bigint", MISFIT),
        (2**53, "double", float(2**53)),
        (2**53 + 1, "double", MISFIT),
        (1, "bool", MISFIT),
        ("2026-02-28", "date", date(2026, 2, 28)),
        ("2026-02-30", "date", MISFIT),
        ("2026-02-28T00:00:00Z", "date", MISFIT),
        ("2025-11-15T23:59:19.7920009Z", "timestamp", datetime(2025, 11, 15, 23, 59, 19, 792000, tzinfo=UTC)),
        ("2025-11-15T23:59:19+01:30", "timestamp", datetime(2025, 11, 15, 22, 29, 19, tzinfo=UTC)),
        ("2025-11-15T23:59:19", "timestamp", MISFIT),  # no zone: not a moment
        ("2025-11-15 23:59:19Z", "timestamp", MISFIT),
    ],
)
def test_a_value_fits_a_column_only_exactly(value: Any, column_type: str, expected: Any) -> None:
    fitted = fit(value, column_type)
    assert fitted is expected if expected is MISFIT else (fitted == expected and type(fitted) is type(expected))


@pytest.mark.parametrize(
    ("column", "values", "placed"),
    [
        # an undeclared field: any number is a double, a later string a variant
        ("ratio", [1, 0.5, "n/a"], [("ratio", 1.0), ("ratio", 0.5), ("ratio__v_text", "n/a")]),
        # an undeclared field that starts as text keeps numbers as their JSON text
        ("surface", ["web", 3, 0.25], [("surface", "web"), ("surface", "3"), ("surface", "0.25")]),
        # a declared counter: fractions, text and integers beyond 64 bits go beside it
        (
            "loc_added_sum",
            [5, 2.5, "7", 2**64],
            [
                ("loc_added_sum", 5),
                ("loc_added_sum__v_double", 2.5),
                ("loc_added_sum__v_text", "7"),
                ("loc_added_sum__v_text", str(2**64)),
            ],
        ),
        ("ai_credits_used", [3, 2**60], [("ai_credits_used", 3.0), ("ai_credits_used__v_bigint", 2**60)]),
        ("used_chat", [True, 1], [("used_chat", True), ("used_chat__v_bigint", 1)]),
        ("enterprise_id", [4242, "4242"], [("enterprise_id", "4242"), ("enterprise_id", "4242")]),
    ],
)
def test_values_land_in_their_column_or_a_variant_by_one_rule(
    column: str, values: list[Any], placed: list[tuple[str, Any]]
) -> None:
    types = ColumnTypes()
    assert [types.place("t", column, v) for v in values] == placed


def test_a_stored_type_wins_over_the_declared_one() -> None:
    types = ColumnTypes({"t": {"avg_loc_added": "bigint"}})  # stored by an older version
    assert types.place("t", "avg_loc_added", 2.5) == ("avg_loc_added__v_double", 2.5)
    assert declared_type("avg_loc_added") == "double"
    assert ColumnTypes().place("t", "avg_loc_added", 2) == ("avg_loc_added", 2.0)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"a": 1e400}', {"a": "1e400"}),  # beyond a double: its exact text
        (b'{"a": 12345678901234567890123}', {"a": 12345678901234567890123}),
        (b'{"a": "\\ud83d\\ude00"}', {"a": "\U0001f600"}),
    ],
)
def test_lines_decode_without_losing_a_digit(raw: bytes, value: Any) -> None:
    assert decode_line(raw) == value


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"a": 1, "a": 2}', "names the field 'a' twice"),
        (b'{"a": NaN}', "is not valid JSON (NaN is not a JSON number)"),
        (b'{"a": "\\udc00"}', "holds text that is not valid Unicode (half of a surrogate pair)"),
        (b'{"a": 1', "is not valid JSON (Expecting ',' delimiter)"),
        (b'{"a": "\xff"}', "is not valid UTF-8 JSON"),
    ],
)
def test_a_bad_line_says_what_is_wrong(raw: bytes, problem: str) -> None:
    with pytest.raises(LineProblem) as raised:
        decode_line(raw)
    assert raised.value.what == problem


def test_day_rows_take_the_wrappers_fields_they_lack() -> None:
    line = {
        "enterprise_id": "1",
        "created_at": "x",
        "day_totals": [{"day": "d1"}, {"day": "d2", "enterprise_id": None}],
    }
    assert day_rows(line) == [
        {"enterprise_id": "1", "created_at": "x", "day": "d1"},
        {"enterprise_id": "1", "created_at": "x", "day": "d2"},
    ]
    assert day_rows({"day": "d", "day_totals": None}) == [{"day": "d", "day_totals": None}]


def test_timestamps_keep_microseconds_and_cut_what_is_beyond() -> None:
    assert parse_timestamp("2025-11-15T23:59:19.7920000Z") == datetime(2025, 11, 15, 23, 59, 19, 792000, tzinfo=UTC)
    assert parse_timestamp("2025-11-15T23:59:19.9999999Z") == datetime(2025, 11, 15, 23, 59, 19, 999999, tzinfo=UTC)
    assert parse_timestamp("0001-01-01T00:30:00+01:00") is None  # before the year 1


@pytest.mark.parametrize("fast", [True, False], ids=["arrow", "python"])
def test_a_repeated_key_is_dropped_whoever_takes_turns_in_the_file(tmp_path: Path, fast: bool) -> None:
    lines = [
        {"day": "2026-01-05", "enterprise_id": eid, "user_id": user, "n": n, "by_ide": [{"ide": "x"}]}
        for n, (eid, user) in enumerate([("1", 5), ("2", 5), ("1", 5), ("2", 6), ("2", 5)])
    ]
    path = tmp_path / "f.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    keys = ("day", "enterprise_id", "user_id")
    parser = ReportParser("t", keys) if fast else RowParser("t", keys)
    tables: dict[str, list[dict[str, Any]]] = {}
    for name, data in [*parser.add(path, "f", date(2026, 1, 5)), *parser.flush()]:
        tables.setdefault(name, []).extend(data.to_pylist() if fast else data)
    assert sorted((r["enterprise_id"], r["user_id"], r["n"]) for r in tables["t"]) == [
        ("1", 5, 0.0),
        ("2", 5, 1.0),
        ("2", 6, 3.0),
    ]
    assert len(tables["t__by_ide"]) == 3
    assert parser.copies.dropped == {date(2026, 1, 5): 2}
