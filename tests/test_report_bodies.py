"""Report file bodies: gzip in every legal form inflated whole, lines of any length, exact last lines.

The pure pieces (`GzipMembers`, `LineWriter`) are held to `gzip`'s own answers byte for byte,
fed in every split; a whole load checks a one-line file far over a megabyte on both parsers.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub
from copilot_source.reports.body import (
    BadGzip,
    GzipMembers,
    Limits,
    LineWriter,
    OverLimit,
    Truncated,
    line_number_at,
)
from tests.conftest import NEWEST, make_pipeline, rows, run, small_enterprise

PARTS = [b'{"a": 1}\n{"a": 2}\n', b'{"a": 3}\n', b"", b'{"a": 4}']


def inflate(data: bytes, piece: int, max_bytes: int = 10**9) -> bytes:
    inflater = GzipMembers(max_bytes)
    out = b"".join(b"".join(inflater.feed(data[i : i + piece])) for i in range(0, len(data), piece))
    return out + b"".join(inflater.finish())


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 10**6])
def test_every_gzip_member_is_inflated_however_the_bytes_arrive(piece: int) -> None:
    body = b"".join(gzip.compress(part) for part in PARTS)
    assert gzip.decompress(body) == b"".join(PARTS)  # what gzip itself makes of it
    assert inflate(body, piece) == b"".join(PARTS)
    # zero padding after a member, as gzip tools write and accept it
    assert inflate(gzip.compress(PARTS[0]) + b"\0" * 9 + gzip.compress(PARTS[1]) + b"\0", piece) == PARTS[0] + PARTS[1]


@pytest.mark.parametrize("piece", [1, 5, 10**6])
@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda body: body + b"<html>", BadGzip),
        (lambda body: body + b"\x1f", BadGzip),
        (lambda body: body + b"\x1f\x8b", Truncated),
        (lambda body: body[:-3], Truncated),
        (lambda body: body[:10] + b"\xff" * 20 + body[30:], BadGzip),
    ],
    ids=["garbage", "half-a-magic", "a-header-and-nothing", "cut", "corrupt"],
)
def test_a_damaged_gzip_body_is_an_error(piece: int, damage: object, error: type[Exception]) -> None:
    body = damage(gzip.compress(b'{"a": 1}\n' * 50) + gzip.compress(b'{"a": 2}\n' * 50))  # type: ignore[operator]
    with pytest.raises(error):
        inflate(body, piece)


def test_a_gzip_bomb_stops_at_the_cap_without_inflating_it_whole() -> None:
    bomb = gzip.compress(b"\n" * 20_000_000, compresslevel=1)
    inflater = GzipMembers(max_bytes=1_000_000)
    produced = 0
    with pytest.raises(OverLimit) as over:
        for out in inflater.feed(bomb):
            produced += len(out)
    assert over.value.kind == "inflated"
    assert produced <= 1_000_000


def written(pieces: list[bytes], max_line: int = 100) -> LineWriter:
    writer = LineWriter(io.BytesIO(), Limits(10**9, max_line))
    for piece in pieces:
        writer.write(piece)
    return writer


@pytest.mark.parametrize(
    ("pieces", "last_line"),
    [
        ([b'{"a":1}\n{"a":2}\n'], (8, 2)),
        ([b'{"a":1}\n{"a":2}'], (8, 2)),
        ([b'{"a":1}\n{"a', b'":2}\n\n  \r\n'], (8, 2)),
        ([b'{"a":1}\n', b"{", b'"a":2', b"}"], (8, 2)),
        ([b"\n\n", b'{"a":1}', b"\n \n"], (2, 3)),
        ([b"  \n", b"\n"], None),
        ([], None),
    ],
)
def test_the_last_line_is_found_however_the_pieces_fall(
    tmp_path: Path, pieces: list[bytes], last_line: tuple[int, int] | None
) -> None:
    writer = written(pieces)
    if last_line is None:
        assert writer.last_line is None
        return
    assert writer.last_line == last_line[0]
    # its number, counted from the file when a cut last line must be named
    (tmp_path / "file").write_bytes(b"".join(pieces))
    assert line_number_at(tmp_path / "file", last_line[0]) == last_line[1]


@pytest.mark.parametrize(
    "pieces",
    [[b"x" * 101], [b"x" * 60, b"x" * 41], [b"ok\n" + b"x" * 50, b"x" * 51 + b"\n"], [b"x" * 100 + b"\n" + b"y" * 101]],
)
def test_a_line_over_the_cap_is_refused_wherever_it_is_cut(pieces: list[bytes]) -> None:
    with pytest.raises(OverLimit) as over:
        written(pieces)
    assert over.value.kind == "line"


def test_lines_at_the_cap_pass() -> None:
    pieces = [b"x" * 100 + b"\n", b"y" * 50, b"y" * 50, b"\n" + b"z" * 100]
    writer = written(pieces)
    assert writer.size == sum(map(len, pieces)) and writer.last_line == 202  # the z line, written whole


@pytest.fixture
def enterprise() -> FakeEnterprise:
    return small_enterprise(user_count=8, first_report_day=NEWEST - timedelta(days=1), files_per_report=1)


@pytest.mark.parametrize(
    ("fast_path", "encoding"), [(True, "none"), (True, "gzip-header"), (False, "none")], ids=["arrow", "gzip", "python"]
)
def test_a_one_line_file_over_a_megabyte_loads(
    tmp_path: Path, fake: FakeGitHub, fast_path: bool, encoding: str
) -> None:
    """A large enterprise's enterprise-1-day file: one line of MBs (over pyarrow's 1 MB block and
    the 1 MB the last-line check used to read), no newline at its end."""
    day = fake.enterprise.report_days()[0]
    record = json.loads(fake.enterprise.enterprise_report_lines(day)[0])
    template = record["totals_by_language_feature"][0]
    record["totals_by_language_feature"] = [{**template, "language": f"{n:06d}" + "x" * 1000} for n in range(2000)]
    line = json.dumps(record).encode()
    assert len(line) > 2 << 20
    fake.file_overrides[("enterprise-1-day", day, 0)] = line
    fake.file_encoding = encoding
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=("enterprise_metrics",), fast_path=fast_path)

    assert rows(pipeline, f"SELECT daily_active_users FROM enterprise_metrics WHERE day = DATE '{day}'") == [
        (record["daily_active_users"],)
    ]
    breakdown = "enterprise_metrics__totals_by_language_feature"
    assert rows(pipeline, f"SELECT count(*), count(DISTINCT language) FROM {breakdown} WHERE day = DATE '{day}'") == [
        (2000, 2000)
    ]
    # nothing was downloaded twice: the file was complete the first time
    assert len(fake.calls("files", f"/enterprise-1-day/{day}/")) == 1
