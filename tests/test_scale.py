"""What keeps large loads fast and bounded: chunked parsing, bounded fetching, parquet loads.

How fast and how much memory is the business of `python -m benchmarks`; these tests pin down
the behaviour the speed relies on, exactly and without timing anything.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path
from typing import Any

import dlt
import pytest

from copilot_source.concurrency import ordered_map
from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.errors import ReportDataError
from copilot_source.reports import arrow as arrow_reports
from copilot_source.reports.arrow import ReportParser
from tests.compare import data_tables, table_content
from tests.conftest import make_pipeline, run
from tests.postgres import running_postgres

KEYS = ("day", "enterprise_id", "user_id")
DAY = date(2026, 1, 5)


def user_line(user_id: int, day: str = "2026-01-05", **extra: Any) -> str:
    line = {
        "user_id": user_id,
        "day": day,
        "enterprise_id": "1",
        "loc_added_sum": user_id % 7,
        "totals_by_ide": [{"ide": "vscode", "loc_added_sum": 1}, {"ide": "neovim", "loc_added_sum": 2}],
        **extra,
    }
    return json.dumps(line)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def parse_all(
    parser: ReportParser, files: list[tuple[Path, str]], days: list[date] | None = None
) -> list[tuple[str, Any]]:
    """Every table the parser makes of `files` (of the day 2026-01-05 unless `days` says)."""
    tables: list[tuple[str, Any]] = []
    for index, (path, label) in enumerate(files):
        tables.extend(parser.add(path, label, days[index] if days else DAY))
    tables.extend(parser.flush())
    return tables


def test_small_files_are_parsed_together_into_one_table(tmp_path: Path) -> None:
    files = [
        (write(tmp_path / f"{n}.ndjson", [user_line(n * 10 + i) for i in range(3)]), f"file {n}") for n in range(4)
    ]
    tables = parse_all(ReportParser("users_1_day", KEYS), files)

    roots = [data for name, data in tables if name == "users_1_day"]
    assert len(roots) == 1  # one parse for all four files
    assert sorted(roots[0].column("user_id").to_pylist()) == sorted(n * 10 + i for n in range(4) for i in range(3))
    (ide,) = [data for name, data in tables if name == "users_1_day__totals_by_ide"]
    assert sorted(zip(ide.column("user_id").to_pylist(), ide.column("list_index").to_pylist(), strict=True)) == sorted(
        (n * 10 + i, index) for n in range(4) for i in range(3) for index in (0, 1)
    )


def test_a_bad_line_among_joined_files_is_named_by_its_own_file_and_line(tmp_path: Path) -> None:
    good = write(tmp_path / "good.ndjson", [user_line(1), user_line(2)])
    bad = write(tmp_path / "bad.ndjson", [user_line(3), user_line(4)[:-9], user_line(5)])
    with pytest.raises(ReportDataError) as failure:
        parse_all(ReportParser("users_1_day", KEYS), [(good, "day 1, file 1"), (bad, "day 1, file 2")])
    assert failure.value.cause.startswith("day 1, file 2, line 2: the line is not valid JSON")


def test_files_whose_field_types_differ_still_load_every_line(tmp_path: Path) -> None:
    # GitHub sends a field as a number one day and as text the next: parsed together they clash
    numbers = write(tmp_path / "a.ndjson", [user_line(1, surface=1), user_line(2, surface=2)])
    texts = write(tmp_path / "b.ndjson", [user_line(3, day="2026-01-06", surface="desktop")])
    files = [(numbers, "a"), (texts, "b")]
    tables = parse_all(ReportParser("users_1_day", KEYS), files, [DAY, date(2026, 1, 6)])

    roots = [data for name, data in tables if name == "users_1_day"]

    # an undeclared number is a double; text that comes later goes to the variant column
    def values(column: str) -> list[Any]:
        return [v for t in roots if column in t.column_names for v in t.column(column).to_pylist()]

    assert values("user_id") == [1, 2, 3]
    assert values("surface") == [1.0, 2.0]
    assert values("surface__v_text") == ["desktop"]


def test_a_chunk_limit_cuts_files_into_pieces_without_losing_or_splitting_lines(tmp_path: Path) -> None:
    lines = [user_line(n) for n in range(50)]
    lines[20] = user_line(20, note="x" * 2000)  # longer than a chunk
    path = tmp_path / "big.ndjson"
    path.write_text("\n".join(lines))  # and no newline after the last line
    parser = ReportParser("users_1_day", KEYS, chunk_bytes=len(lines[0]) * 7)
    roots = [data for name, data in parse_all(parser, [(path, "big")]) if name == "users_1_day"]

    assert len(roots) > 5
    assert [u for t in roots for u in t.column("user_id").to_pylist()] == list(range(50))


def test_line_numbers_count_from_the_start_of_the_file_across_chunks(tmp_path: Path) -> None:
    lines = [user_line(n) for n in range(30)]
    lines[23] = lines[23].replace('"user_id": 23, ', "")
    path = write(tmp_path / "f.ndjson", lines)
    with pytest.raises(ReportDataError) as failure:
        parse_all(ReportParser("users_1_day", KEYS, chunk_bytes=len(lines[0]) * 4), [(path, "f")])
    assert failure.value.cause == "f, line 24: the line lacks user_id."


def test_fast_path_equals_reference_when_chunks_cut_across_files_and_days(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a few lines per chunk: chunks end inside files and join the ends of files and days
    monkeypatch.setattr(arrow_reports, "CHUNK_BYTES", 20_000)
    fast = make_pipeline(tmp_path, "fast")
    reference = make_pipeline(tmp_path, "reference")
    run(fast, fake, resources=("users_1_day",), fast_path=True)
    run(reference, fake, resources=("users_1_day",), fast_path=False)

    tables = data_tables(fast)
    assert tables == data_tables(reference)
    for table in tables:
        assert table_content(fast, table) == table_content(reference, table), table


def test_ordered_map_keeps_order_runs_side_by_side_and_reads_ahead_only_its_window() -> None:
    workers, total = 3, 20
    pulled = 0
    running = peak = 0
    lock = threading.Lock()
    # the first `workers` items only finish once all of them run at the same time
    together = threading.Barrier(workers, timeout=30)

    def items() -> Any:
        nonlocal pulled
        for n in range(total):
            pulled += 1
            yield n

    def square(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if n < workers:
            together.wait()
        with lock:
            running -= 1
        return n * n

    results = []
    for count, result in enumerate(ordered_map(square, items(), workers), start=1):
        assert pulled == min(total, workers + count)
        results.append(result)
    assert results == [n * n for n in range(total)]
    assert peak == workers


def file_formats(info: Any) -> dict[str, set[str]]:
    """The file format each data table was loaded in (merge SQL and dlt's own tables left out)."""
    formats: dict[str, set[str]] = {}
    for package in info.load_packages:
        for job in package.jobs["completed_jobs"]:
            table, kind = job.job_file_info.table_name, job.job_file_info.file_format
            if not table.startswith("_dlt") and kind != "sql":
                formats.setdefault(table, set()).add(kind)
    return formats


def test_every_table_loads_into_duckdb_as_parquet(tmp_path: Path, fake: FakeGitHub) -> None:
    info = run(make_pipeline(tmp_path), fake)
    formats = file_formats(info)

    assert {"seats", "seat_activity", "users_1_day", "users_1_day__totals_by_ide", "enterprise_metrics"} <= set(formats)
    assert formats == {table: {"parquet"} for table in formats}


def test_postgres_takes_report_tables_as_csv(tmp_path: Path, fake: FakeGitHub) -> None:
    with running_postgres() as server:
        url = server.create_database("formats")
        pipeline = make_pipeline(tmp_path, destination=dlt.destinations.postgres(url))
        formats = file_formats(run(pipeline, fake, resources=("seats", "users_1_day")))

    # dlt writes Arrow tables straight to CSV for COPY, the first format PostgreSQL takes that
    # dlt writes Arrow to natively; row dicts keep PostgreSQL's own choice, insert_values
    assert formats["users_1_day"] == formats["users_1_day__totals_by_ide"] == {"csv"}
    assert formats["seats"] == {"insert_values"}
