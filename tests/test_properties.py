"""Property-based tests of everything that parses what GitHub sends: Link headers, rate-limit
headers, report lines; and of the redaction that keeps tokens and signed links out of logs."""

from __future__ import annotations

import json
import math
import string
from datetime import date, datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from copilot_source.github.ratelimit import RateLimitInfo, is_rate_limited, rate_limit_wait
from copilot_source.github.redaction import redact
from copilot_source.reports import arrow as arrow_reports
from copilot_source.reports import rows as python_reports
from copilot_source.seats import page_number

# examples are cheap, but the suite shares two cores with everything else
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NOW = 1_800_000_000.0
SAFE = string.ascii_letters + string.digits + "-_."

# ---- Link headers ----------------------------------------------------------------------------

RELS = ("next", "last", "first", "prev")
slugs = st.text(SAFE, min_size=1, max_size=20)
pages = st.integers(min_value=1, max_value=10**6)


def seat_url(host: str, slug: str, page: int, per_page: int) -> str:
    return f"https://{host}/enterprises/{slug}/copilot/billing/seats?{urlencode({'per_page': per_page, 'page': page})}"


@PROPERTY
@given(
    page=st.one_of(st.none(), pages, st.text(string.ascii_letters, min_size=1, max_size=8)),
    others=st.dictionaries(st.sampled_from(["per_page", "day", "x"]), st.text(SAFE, max_size=8), max_size=3),
)
def test_page_number_is_the_page_parameter_when_it_is_a_number(page: int | str | None, others: dict[str, str]) -> None:
    query = {**others, **({} if page is None else {"page": page})}
    url = f"https://api.github.com/enterprises/e/copilot/billing/seats?{urlencode(query)}"
    assert page_number(url) == (page if isinstance(page, int) else None)


# ---- rate-limit headers ----------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10**7)
garbage = st.text(max_size=12).filter(lambda t: not t.strip().isdigit())


def header_value(value: int | str | None, case: str) -> dict[str, str]:
    return {} if value is None else {case: str(value)}


@PROPERTY
@given(
    limit=st.one_of(st.none(), counts, garbage),
    remaining=st.one_of(st.none(), counts, garbage),
    reset=st.one_of(st.none(), st.integers(int(NOW) - 10**5, int(NOW) + 10**5), garbage),
    retry_after=st.one_of(st.none(), counts, garbage),
    upper=st.booleans(),
)
def test_rate_limit_headers_read_numbers_and_ignore_anything_else(
    limit: Any, remaining: Any, reset: Any, retry_after: Any, upper: bool
) -> None:
    def name(header: str) -> str:
        return header.title() if upper else header

    headers: dict[str, str] = {}
    for header, value in (
        ("x-ratelimit-limit", limit),
        ("x-ratelimit-remaining", remaining),
        ("x-ratelimit-reset", reset),
        ("retry-after", retry_after),
    ):
        headers.update(header_value(value, name(header)))
    info = RateLimitInfo.from_headers(headers, now=NOW)

    def expected(value: Any) -> int | None:
        return value if isinstance(value, int) else None

    assert (info.limit, info.remaining, info.reset) == (expected(limit), expected(remaining), expected(reset))
    assert info.retry_after == (float(retry_after) if isinstance(retry_after, int) else None)


@PROPERTY
@given(seconds=st.integers(min_value=0, max_value=10**6))
def test_retry_after_as_an_http_date_is_the_time_until_then(seconds: int) -> None:
    moment = datetime.fromtimestamp(NOW + seconds, timezone.utc)
    info = RateLimitInfo.from_headers({"Retry-After": format_datetime(moment, usegmt=True)}, now=NOW)
    assert info.retry_after == seconds


infos = st.builds(
    RateLimitInfo,
    limit=st.one_of(st.none(), counts),
    remaining=st.one_of(st.none(), st.just(0), counts),
    reset=st.one_of(st.none(), st.integers(int(NOW) - 10**4, int(NOW) + 10**4)),
    retry_after=st.one_of(st.none(), st.integers(0, 10**5).map(float)),
)


messages = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            "API rate limit exceeded for user ID 1.",
            "You have triggered an abuse detection mechanism. Please wait a few minutes before you try again.",
            "Resource not accessible by personal access token",
            "Must have admin rights to Repository.",
        ]
    ),
)


@PROPERTY
@given(status=st.integers(100, 599), info=infos, message=messages)
def test_only_429_and_a_403_with_a_rate_limit_signal_are_rate_limits(
    status: int, info: RateLimitInfo, message: str
) -> None:
    said = message.lower()
    signal = info.remaining == 0 or info.retry_after is not None or "rate limit" in said or "abuse detection" in said
    assert is_rate_limited(status, info, message) == (status == 429 or (status == 403 and signal))


@PROPERTY
@given(info=infos, attempt=st.integers(0, 60), min_wait=st.floats(0, 600))
def test_the_wait_follows_githubs_order_of_rules(info: RateLimitInfo, attempt: int, min_wait: float) -> None:
    wait = rate_limit_wait(info, attempt, min_wait, NOW)
    assert math.isfinite(wait) and wait >= 0
    if info.retry_after is not None:
        assert wait == info.retry_after
    elif info.remaining == 0 and info.reset is not None:
        assert wait == max(0.0, info.reset - NOW) + 1.0
    else:
        assert wait == min_wait * 2.0 ** min(attempt, 32)


# ---- report lines ----------------------------------------------------------------------------

ids = st.integers(min_value=1, max_value=2**53)
small = st.integers(min_value=0, max_value=10**9)
words = st.text(string.ascii_letters + string.digits + "-_. :/+", min_size=1, max_size=16)
timestamps = st.datetimes(datetime(2025, 1, 1), datetime(2027, 1, 1), timezones=st.just(timezone.utc)).map(
    lambda m: m.strftime("%Y-%m-%dT%H:%M:%S.") + f"{m.microsecond // 1000:03d}Z"
)
DAY = date(2026, 1, 5)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Present, null, or absent (`...` is dropped from the line by `present`)."""
    return st.one_of(strategy, st.none(), st.just(...))


def present(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: present(v) for k, v in value.items() if v is not ...}
    if isinstance(value, list):
        return [present(v) for v in value]
    return value


# JSON values a field may take from one line to the next (type drift)
drifting = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["", "7", "2025-11-15", "2025-11-15T23:59:19.7920000Z", "2025-02-30T00:00:00Z"]),
    st.text(max_size=5),
)
drift = optional(st.one_of(drifting, st.fixed_dictionaries({"a": optional(drifting)}), st.lists(drifting, max_size=2)))
ide_totals = st.fixed_dictionaries(
    {
        "ide": st.sampled_from(["vscode", "jetbrains", "zed", "a-new-ide"]),
        "drift": drift,
        "sampled_at": optional(drifting),
        "loc_added_sum": small,
        "last_known_ide_version": optional(st.fixed_dictionaries({"ide_version": words, "sampled_at": timestamps})),
    }
)
feature_totals = st.fixed_dictionaries(
    {"feature": words, "code_generation_activity_count": small, "user_initiated_interaction_count": optional(small)}
)
cli_totals = st.fixed_dictionaries(
    {
        "session_count": small,
        "token_usage": st.fixed_dictionaries(
            {"output_tokens_sum": small, "avg_tokens_per_request": st.floats(0, 10**6, allow_nan=False)}
        ),
    }
)
user_lines = st.fixed_dictionaries(
    {
        "user_id": ids,
        "enterprise_id": st.integers(1, 10**6).map(str),
        "day": st.just(DAY.isoformat()),
        "user_login": words,
        "loc_added_sum": small,
        "used_chat": optional(st.booleans()),
        "totals_by_ide": st.lists(ide_totals, max_size=4),
        "totals_by_feature": optional(st.lists(feature_totals, max_size=4)),
        "totals_by_cli": optional(cli_totals),
        "ai_credits_used": optional(st.integers(0, 1000)),
        "drift": drift,
        "loc_deleted_sum": optional(drifting),
        "used_agent": optional(drifting),
        "day_partition": optional(drifting),
    }
).map(present)
KEYS = ("day", "enterprise_id", "user_id")


def without_nulls(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def canonical(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Rows of each table, nulls dropped, as sorted text (dates and datetimes compare as text)."""
    return {
        table: sorted(json.dumps(without_nulls(row), sort_keys=True, default=str) for row in table_rows)
        for table, table_rows in tables.items()
        if table_rows
    }


def arrow_conversion(path: Path, chunk_bytes: int) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    parser = arrow_reports.ReportParser("users_1_day", KEYS, chunk_bytes=chunk_bytes)
    for name, part in [*parser.add(path, "a file", DAY), *parser.flush()]:
        tables.setdefault(name, []).extend(part.to_pylist())
    return tables


def python_conversion(path: Path) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for name, batch in python_reports.RowParser("users_1_day", KEYS).add(path, "a file", DAY):
        tables.setdefault(name, []).extend(batch)
    return tables


@PROPERTY
@given(
    lines=st.lists(user_lines, min_size=1, max_size=12, unique_by=lambda line: line["user_id"]),
    chunk_bytes=st.integers(64, 4096),
)
def test_arrow_and_python_conversions_agree_on_any_report_lines(
    tmp_path_factory: pytest.TempPathFactory, lines: list[dict[str, Any]], chunk_bytes: int
) -> None:
    path = tmp_path_factory.mktemp("lines") / "report.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    # both paths find every line and every array element, in place
    reference = python_conversion(path)
    assert len(reference["users_1_day"]) == len(lines)
    assert len(reference.get("users_1_day__totals_by_ide", [])) == sum(len(line["totals_by_ide"]) for line in lines)
    assert canonical(arrow_conversion(path, chunk_bytes)) == canonical(reference)


@PROPERTY
@given(
    lines=st.lists(st.binary(min_size=0, max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    final_newline=st.booleans(),
    chunk_bytes=st.integers(1, 64),
)
def test_read_chunks_keeps_every_line_and_numbers_it(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], final_newline: bool, chunk_bytes: int
) -> None:
    content = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    path = tmp_path_factory.mktemp("chunks") / "report.ndjson"
    path.write_bytes(content)
    seen: list[tuple[int, bytes]] = []
    for first_line, chunk in arrow_reports.read_chunks(path, chunk_bytes):
        assert chunk.endswith(b"\n")
        seen.extend((first_line + offset, line) for offset, line in enumerate(chunk[:-1].split(b"\n")))
    *terminated, tail = content.split(b"\n")
    expected = list(enumerate(terminated, start=1))
    if tail.strip():  # a last line without its newline is a line too; trailing blanks are not
        expected.append((len(terminated) + 1, tail))
    assert seen == expected


# ---- redaction -------------------------------------------------------------------------------

token_bodies = st.text(string.ascii_letters + string.digits, min_size=36, max_size=40)
tokens = st.one_of(
    st.tuples(st.sampled_from(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]), token_bodies).map("".join),
    token_bodies.map(lambda body: "github_pat_11A" + body),
)
signatures = st.text("0123456789abcdef", min_size=32, max_size=64)
separators = st.sampled_from([" ", "=", ": ", "'", '"', "(", "[", "\n", "\t", ", ", "token "])
prose = st.text(string.ascii_letters + string.digits + " .,:;!?()[]{}'\"=-_/\n", max_size=40)


@PROPERTY
@given(before=prose, after=prose, token=tokens, left=separators, right=separators)
def test_a_token_never_survives_redaction(before: str, after: str, token: str, left: str, right: str) -> None:
    assert token not in redact(f"{before}{left}{token}{right}{after}")


@PROPERTY
@given(
    before=prose,
    after=prose,
    sig=signatures,
    path=st.text(SAFE, min_size=1, max_size=30),
    extra=st.dictionaries(st.sampled_from(["expires", "sv", "se", "sp", "day", "page"]), words, max_size=3),
    left=separators,
)
def test_a_signed_link_never_survives_redaction(
    before: str, after: str, sig: str, path: str, extra: dict[str, str], left: str
) -> None:
    assume(sig not in before + after + path + "".join(extra.values()))
    url = f"https://files.example.net/{path}?{urlencode({**extra, 'sig': sig})}"
    cleaned = redact(f"{before}{left}{url} {after}")
    assert sig not in cleaned
    assert f"https://files.example.net/{path}" in cleaned  # where it went stays readable


def test_our_own_query_parameters_stay_readable() -> None:
    url = "https://api.github.com/enterprises/e/copilot/metrics/reports/users-1-day?day=2026-01-02"
    assert redact(f"GET {url} failed") == f"GET {url} failed"
