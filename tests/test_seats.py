"""Seat snapshots: complete or not used; pagination bounded; memory bounded for large lists.

GitHub's seat pages are a live view. A seat unassigned between two page requests shifts the
next seat onto a page already read, and a page can come back empty: loading such a read would
record seats that are still assigned as removed. Expected values come from the seat JSON the
fake serves, keyed here without the code under test.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
import requests

from copilot_source import SeatDataError, find_source_error
from copilot_source.config import validate_settings
from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub
from copilot_source.demo.fake_github.__main__ import FixedEnterprise
from copilot_source.github.client import GitHubClient
from copilot_source.seat_pages import ListMoved, page_bound, parse_page, with_page
from copilot_source.seats import SeatSnapshot
from tests.conftest import NEWEST, TODAY, TOKEN, make_pipeline, rows, run, small_enterprise
from tests.logs import dlt_warnings

SEATS = ("seats", "seat_activity")
SEAT_PATH = "/billing/seats"


def key_of(seat: dict[str, Any]) -> str:
    team = seat["assigning_team"]
    return f"{seat['assignee']['id']}:{seat['organization']['id']}:{team['id'] if team else ''}"


@pytest.fixture
def enterprise() -> FakeEnterprise:
    """150 people on 180 seat rows (every fifth person has a second seat): two pages of 100."""
    return small_enterprise(user_count=150, first_report_day=NEWEST - timedelta(days=2))


def pages_asked(fake: FakeGitHub) -> list[int]:
    return [int(s.query["page"]) for s in fake.calls("api", SEAT_PATH)]


def current_seats(pipeline: dlt.Pipeline) -> set[str]:
    return {key for (key,) in rows(pipeline, "SELECT seat_key FROM seats WHERE _dlt_valid_to IS NULL")}


def retired_seats(pipeline: dlt.Pipeline) -> set[str]:
    return {key for (key,) in rows(pipeline, "SELECT seat_key FROM seats WHERE _dlt_valid_to IS NOT NULL")}


def activity_seats(pipeline: dlt.Pipeline) -> list[tuple[Any, ...]]:
    return rows(pipeline, "SELECT snapshot_day, seat_key FROM seat_activity ORDER BY 1, 2")


def failure_of(excinfo: pytest.ExceptionInfo[BaseException]) -> SeatDataError:
    error = find_source_error(excinfo.value)
    assert isinstance(error, SeatDataError), excinfo.value
    return error


def test_the_fixture_has_two_pages_and_people_with_two_seats(fake: FakeGitHub) -> None:
    seats = fake.enterprise.seats(TODAY)
    assert len(seats) == 180
    assert len({seat["assignee"]["id"] for seat in seats}) == 150


def test_a_seat_removed_between_two_pages_is_read_again_not_recorded_as_a_revoke(
    tmp_path: Path, fake: FakeGitHub
) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake, resources=SEATS)
    before = fake.enterprise.seats(TODAY)
    assert current_seats(pipeline) == {key_of(s) for s in before}

    # dev-01002 holds one seat, on page 1: once page 1 is served it goes, and seat #101 moves
    # onto page 1, already read
    removed, shifted = key_of(before[2]), key_of(before[100])
    assert before[2]["assignee"]["login"] == "dev-01002" and removed.endswith(":")
    fake.clear_log()
    fake.unassign_after_seat_page = {1: {removed}}
    with dlt_warnings() as warnings:
        run(pipeline, fake, resources=SEATS)

    # page 2 counted 149 people where page 1 counted 150: the whole list was read again
    assert pages_asked(fake) == [1, 2, 1, 2]
    assert warnings == [
        "The seat list did not add up (page 2 counts 149 people with a seat, page 1 counted 150):"
        " seats were probably assigned or removed while it was read. Reading it again (read 2 of 3)."
    ]
    after = fake.enterprise.seats(TODAY)
    assert len(after) == 179
    # the real revoke is recorded; seat #101 stays one unbroken version
    assert current_seats(pipeline) == {key_of(s) for s in after}
    assert retired_seats(pipeline) == {removed}
    assert rows(pipeline, f"SELECT count(*) FROM seats WHERE seat_key = '{shifted}'") == [(1,)]
    assert activity_seats(pipeline) == sorted((TODAY, key_of(s)) for s in after)


def test_an_empty_page_is_read_again_until_it_heals(tmp_path: Path, fake: FakeGitHub) -> None:
    # page 2 answers `seats: []` twice while total_seats still says 150; the third read is whole
    fake.empty_seat_pages = {2: 2}
    pipeline = make_pipeline(tmp_path)
    with dlt_warnings() as warnings:
        run(pipeline, fake, resources=SEATS)

    assert pages_asked(fake) == [1, 2, 1, 2, 1, 2]
    seats = fake.enterprise.seats(TODAY)
    people_on_page_1 = len({s["assignee"]["id"] for s in seats[:100]})
    said = f"the pages list {people_on_page_1} people with a seat, while GitHub counts 150 (`total_seats`)"
    assert [m for m in warnings if m.startswith("The seat list did not add up")] == [
        f"The seat list did not add up ({said}): seats were probably assigned or removed while it"
        f" was read. Reading it again (read {n} of 3)."
        for n in (2, 3)
    ]
    assert current_seats(pipeline) == {key_of(s) for s in seats}
    assert rows(pipeline, "SELECT count(*) FROM seats") == [(180,)]
    assert activity_seats(pipeline) == sorted((TODAY, key_of(s)) for s in seats)
    assert rows(pipeline, "SELECT sum(assignee__id) FROM seats") == [(sum(s["assignee"]["id"] for s in seats),)]


def snapshot_of(pipeline: dlt.Pipeline) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the seat tables and one report, in a stable order."""
    return {
        "seats": rows(pipeline, "SELECT seat_key, assignment_hash, plan_type, _dlt_valid_to FROM seats ORDER BY 1, 2"),
        "seat_activity": activity_seats(pipeline),
        "users_1_day": rows(pipeline, "SELECT day, user_id, loc_added_sum FROM users_1_day ORDER BY 1, 2"),
    }


def test_a_list_that_never_adds_up_fails_clearly_and_loads_nothing(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    run(pipeline, fake)
    tables = snapshot_of(pipeline)
    state = copy.deepcopy(pipeline.state)
    assert len(tables["seats"]) == 180

    # a change a successful run would load, and a page 2 that stays empty for three reads
    seat = fake.enterprise.seats(TODAY)[5]
    fake.enterprise.plan_changes[key_of(seat)] = "enterprise" if seat["plan_type"] == "business" else "business"
    fake.enterprise.newest_report_day = NEWEST + timedelta(days=1)
    fake.empty_seat_pages = {2: 3}
    fake.clear_log()
    with pytest.raises(Exception) as failure:
        run(pipeline, fake)

    error = failure_of(failure)
    assert error.code == "bad_seat_data"
    people_on_page_1 = len({s["assignee"]["id"] for s in fake.enterprise.seats(TODAY)[:100]})
    assert error.cause == (
        "The enterprise's Copilot seats did not add up to one complete list in 3 reads: the pages"
        f" list {people_on_page_1} people with a seat, while GitHub counts 150 (`total_seats`)."
        " Nothing of `seats` or `seat_activity` was loaded: a partial list would record seats that"
        " are still assigned as removed."
    )
    assert error.fix.startswith("Run again later")
    assert "\n" not in error.message
    # three reads, and the request id of the page that showed the last read short
    assert pages_asked(fake) == [1, 2, 1, 2, 1, 2]
    assert error.request_id == fake.calls("api", SEAT_PATH)[-1].request_id
    # nothing of the run was loaded, the state is as it was, nothing waits to be loaded
    assert snapshot_of(pipeline) == tables
    assert pipeline.state == state
    assert not pipeline.has_pending_data
    assert not list((Path(pipeline.working_dir) / "copilot_downloads").rglob("*.ndjson"))

    # the next run, with GitHub whole again, loads the change
    run(pipeline, fake)
    changed = fake.enterprise.seats(TODAY)[5]
    assert changed["plan_type"] != seat["plan_type"]
    versions = f"SELECT plan_type, _dlt_valid_to IS NULL FROM seats WHERE seat_key = '{key_of(seat)}' ORDER BY 2"
    assert rows(pipeline, versions) == [(seat["plan_type"], False), (changed["plan_type"], True)]


# ---- pagination that loops or runs on ---------------------------------------------------------

PAGINATION = {
    "a last page of 300,000,000": (
        lambda page, last: {"next": page + 1, "last": 300_000_000},
        [1],
        "page 1 links to a last page of 300000000, while 150 people fit on at most 16 pages of 100",
    ),
    "a next link back to a page already read": (
        lambda page, last: {"next": 1 if page == 2 else page + 1},
        [1, 2],
        "page 2 links on to page 1, already read",
    ),
    "next links that never end": (
        lambda page, last: {"next": page + 1},
        list(range(1, 17)),
        "the pages go on past page 16, while 150 people fit on at most 16 pages of 100",
    ),
}


@pytest.mark.parametrize(("links", "asked", "said"), list(PAGINATION.values()), ids=list(PAGINATION))
def test_pagination_that_loops_or_runs_on_fails_at_once(
    tmp_path: Path, fake: FakeGitHub, links: Any, asked: list[int], said: str
) -> None:
    fake.seat_links = links
    pipeline = make_pipeline(tmp_path)
    with pytest.raises(Exception) as failure:
        run(pipeline, fake, resources=SEATS)

    error = failure_of(failure)
    assert error.message.startswith(f"[bad_seat_data] GitHub's seat pages cannot be read to the end: {said}.")
    assert "\n" not in error.message
    # never read again: links that loop do so on every read
    assert pages_asked(fake) == asked
    assert page_bound(150) == 16
    assert not pipeline.has_pending_data
    with duckdb.connect(str(tmp_path / "copilot_test.duckdb"), read_only=True) as db:
        tables = db.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert ("seats",) not in tables and ("seat_activity",) not in tables


# ---- memory and the spool ----------------------------------------------------------------------


def test_the_snapshot_is_spooled_to_disk_not_held_in_memory(tmp_path: Path) -> None:
    # 6,000 seat rows, computed once so that serving them costs the fake no memory while traced
    enterprise = FixedEnterprise(user_count=5000, org_count=3, first_report_day=NEWEST, newest_report_day=NEWEST)
    served = enterprise.seats(TODAY)
    with FakeGitHub(enterprise, token=TOKEN, today=TODAY) as fake:
        settings = validate_settings(
            enterprise=enterprise.slug,
            access_token=TOKEN,
            base_url=fake.api_url,
            api_version=None,
            start_date=None,
            end_date=None,
            lookback_days=0,
            concurrency=4,
            rate_limit_max_wait=0,
            rate_limit_min_wait=0,
            today=TODAY,
        )
        # what holding every seat as a dict would take: the pages' JSON, parsed
        tracemalloc.start()
        held = [json.loads(json.dumps(seat)) for seat in served]
        all_seats = tracemalloc.get_traced_memory()[0]
        del held
        tracemalloc.stop()

        snapshot = SeatSnapshot(GitHubClient(settings), settings.accounts[0], workers=4)
        read = hashlib.sha256()
        tracemalloc.start()
        for batch in snapshot.read():
            for seat in batch:
                read.update(key_of(seat).encode())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    # every seat, once, in GitHub's order
    assert read.hexdigest() == hashlib.sha256("".join(key_of(seat) for seat in served).encode()).hexdigest()
    assert len(pages_asked(fake)) == 60
    # far below the list itself: pages in flight, a batch, the keys and ids it checks
    assert all_seats > 20_000_000
    assert peak < all_seats / 4, (peak, all_seats)


def test_a_killed_runs_spool_is_cleared_and_none_is_left_behind(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    left_behind = Path(pipeline.working_dir) / "copilot_downloads" / "seats" / "seats.ndjson"
    left_behind.parent.mkdir(parents=True)
    left_behind.write_text('{"assignee": {"id": 1}, "organization": {"id": 1}}\n')  # what a killed run left

    run(pipeline, fake, resources=SEATS)

    assert not left_behind.parent.exists()
    assert current_seats(pipeline) == {key_of(s) for s in fake.enterprise.seats(TODAY)}


# ---- what a page must look like --------------------------------------------------------------


def answer(body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = body
    response.headers["x-github-request-id"] = "ID:1"
    return response


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<html>Service Unavailable</html>", "page 3 is not a JSON seat list"),
        (b"", "page 3 is not a JSON seat list"),
        (b'[{"total_seats": 1}]', "page 3 is not a JSON seat list"),
        (b'{"seats": []}', "page 3 has no seat count (`total_seats` is None)"),
        (b'{"total_seats": "150", "seats": []}', "page 3 has no seat count (`total_seats` is '150')"),
        (b'{"total_seats": true, "seats": []}', "page 3 has no seat count (`total_seats` is True)"),
        (b'{"total_seats": -1, "seats": []}', "page 3 has no seat count (`total_seats` is -1)"),
        (b'{"total_seats": 150, "seats": {}}', "page 3 has no list of seat objects (`seats`)"),
        (b'{"total_seats": 150, "seats": [1, 2]}', "page 3 has no list of seat objects (`seats`)"),
    ],
)
def test_a_page_that_is_not_a_seat_list_is_a_problem_to_read_again(body: bytes, said: str) -> None:
    with pytest.raises(ListMoved) as problem:
        parse_page(answer(body), 3)
    assert (problem.value.problem, problem.value.request_id) == (said, "ID:1")


@pytest.mark.parametrize(("people", "pages"), [(0, 1), (1, 2), (10, 2), (11, 3), (150, 16), (100_000, 10_001)])
def test_the_page_bound_allows_ten_seat_rows_per_person_and_one_page_more(people: int, pages: int) -> None:
    assert page_bound(people) == pages


@pytest.mark.parametrize(
    ("url", "page", "made"),
    [
        ("https://api.github.com/e/seats?per_page=100&page=9", 2, "https://api.github.com/e/seats?per_page=100&page=2"),
        ("https://api.github.com/e/seats?page=9&per_page=100", 3, "https://api.github.com/e/seats?page=3&per_page=100"),
        ("https://api.github.com/e/seats?per_page=100", 4, "https://api.github.com/e/seats?per_page=100&page=4"),
        ("https://h:8443/e/seats?q=a+b%26c&page=1", 5, "https://h:8443/e/seats?q=a+b%26c&page=5"),
    ],
)
def test_a_page_url_changes_the_page_and_keeps_the_rest(url: str, page: int, made: str) -> None:
    assert with_page(url, page) == made
