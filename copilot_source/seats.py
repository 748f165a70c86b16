"""Seat assignments: one complete snapshot of the seat list, split into assignments and activity.

A person holds one seat row per granting organization or team, so a seat is keyed by
(assignee id, organization id, team id). The assignment fields carry a hash that changes only
when the assignment does, so dlt's scd2 history records real changes, not daily activity.

GitHub's pages are a live view: a seat removed between two page requests shifts the next seat
onto a page already read, and a page can come back empty. Since every seat missing from a
snapshot is recorded as removed, a read is spooled to a file in the pipeline's working folder,
checked against GitHub's own count (`total_seats`: people counted once, the same on every
page), read again a few times when it does not add up, and only then handed on. A list that
never adds up fails with `bad_seat_data` before anything of it is loaded.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from dlt.common import logger
from dlt.common.schema.typing import TWriteDispositionConfig

from copilot_source.accounts import Account
from copilot_source.declarations import DOCS, seat_tables
from copilot_source.errors import SeatDataError
from copilot_source.github.client import GitHubClient
from copilot_source.seat_pages import (
    BrokenPagination,
    ListMoved,
    PageProblem,
    Seat,
    SeatPage,
    page_number,
    seat_pages,
)
from copilot_source.workspace import remove_work_folder, work_folder

__all__ = ["SEAT_HISTORY", "Seat", "SeatSnapshot", "activity_row", "assignment_row", "page_number", "seat_key"]

# reads of the whole list before a snapshot that does not add up fails the run
SNAPSHOT_ATTEMPTS = 3
# seats handed on at a time, read back from the spooled snapshot
SEAT_BATCH = 200

ACTIVITY_FIELDS = ("last_activity_at", "last_activity_editor", "last_authenticated_at", "updated_at")
TIMESTAMP_FIELDS = ("created_at", "last_activity_at", "last_authenticated_at", "updated_at")
# dlt's scd2: a new version only when the assignment hash changes; absent seats are retired
SEAT_HISTORY: TWriteDispositionConfig = {
    "disposition": "merge",
    "strategy": "scd2",
    "row_version_column_name": "assignment_hash",
}


def _id(obj: Any) -> str:
    return str(obj["id"]) if isinstance(obj, dict) and obj.get("id") is not None else ""


def seat_key(seat: Seat) -> str:
    """Stable key of one assignment: assignee id, organization id, team id ('' when absent)."""
    return f"{_id(seat.get('assignee'))}:{_id(seat.get('organization'))}:{_id(seat.get('assigning_team'))}"


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _typed(seat: Seat) -> Seat:
    """Timestamps and dates as Python values; nulls left out so no untyped column appears."""
    typed: Seat = _without_nulls(seat)
    for name in TIMESTAMP_FIELDS:
        value = typed.get(name)
        if isinstance(value, str):
            typed[name] = datetime.fromisoformat(value.replace("Z", "+00:00"))
    cancel = typed.get("pending_cancellation_date")
    if isinstance(cancel, str):
        typed["pending_cancellation_date"] = date.fromisoformat(cancel)
    return typed


def assignment_row(seat: Seat) -> Seat:
    """The seat without its activity fields, plus its key and the hash of the assignment."""
    assignment = {k: v for k, v in seat.items() if k not in ACTIVITY_FIELDS}
    canonical = json.dumps(assignment, sort_keys=True, separators=(",", ":"), default=str)
    return {
        "seat_key": seat_key(seat),
        "assignment_hash": hashlib.sha256(canonical.encode()).hexdigest()[:32],
        # the person's GitHub user id under the name every usage table gives it
        "user_id": _object(seat, "assignee").get("id"),
        **_typed(assignment),
    }


def _object(seat: Seat, name: str) -> dict[str, Any]:
    value = seat.get(name)
    return value if isinstance(value, dict) else {}


def activity_row(seat: Seat, snapshot_day: date) -> Seat:
    """What the seat's user did, as seen on `snapshot_day`."""
    typed = _typed(seat)
    return {
        "snapshot_day": snapshot_day,
        "seat_key": seat_key(seat),
        "user_id": _object(seat, "assignee").get("id"),
        "assignee_id": _object(seat, "assignee").get("id"),
        "assignee_login": _object(seat, "assignee").get("login"),
        # an organization's seats carry its id as text (every organization table does)
        "organization_id": seat.get("organization_id") or _object(seat, "organization").get("id"),
        "assigning_team_id": _object(seat, "assigning_team").get("id"),
        **{name: typed[name] for name in ACTIVITY_FIELDS if name in typed},
    }


@dataclass
class _Tally:
    """What one read of the pages adds up to: every seat once, and whom GitHub counts."""

    total: int | None = None
    request_id: str | None = None
    keys: set[str] = field(default_factory=set)
    people: set[str] = field(default_factory=set)
    without_assignee: int = 0

    def page(self, page: SeatPage) -> None:
        """Every page must count the same people as the first."""
        self.request_id = page.request_id
        if self.total is None:
            self.total = page.total_seats
        elif page.total_seats != self.total:
            raise ListMoved(
                f"page {page.number} counts {page.total_seats} people with a seat, page 1 counted {self.total}",
                page.request_id,
            )

    def add(self, seat: Seat) -> bool:
        """True for a seat not seen before (a shifted list can show one twice)."""
        key = seat_key(seat)
        if key in self.keys:
            return False
        self.keys.add(key)
        assignee = _id(seat.get("assignee"))
        if assignee:
            self.people.add(assignee)
        else:
            self.without_assignee += 1
        return True

    def check(self) -> None:
        """The seats read hold exactly the people GitHub counts (a seat without an assignee may
        or may not be one of them)."""
        people, total = len(self.people), self.total or 0
        if not people <= total <= people + self.without_assignee:
            raise ListMoved(
                f"the pages list {people} people with a seat, while GitHub counts {total} (`total_seats`)",
                self.request_id,
            )


def seats_endpoint(account: Account, named: bool) -> str:
    """How messages name a seat list: the enterprise's, or (several accounts) whose."""
    return f"the Copilot seats of {account}" if named else "the enterprise's Copilot seats"


class SeatSnapshot:
    """An enterprise's or organization's seats as one complete list, or `SeatDataError` and nothing."""

    def __init__(self, client: GitHubClient, account: Account, workers: int, named: bool = False) -> None:
        self.client = client
        self.account = account
        self.workers = workers
        self.endpoint = seats_endpoint(account, named)
        self.of = f" of {account}" if named else ""

    def read(self) -> Iterator[list[Seat]]:
        """Every seat once, in batches, handed on only after the whole list added up."""
        folder = work_folder("seats", self.account)
        spool = folder / "seats.ndjson"
        try:
            for attempt in range(1, SNAPSHOT_ATTEMPTS + 1):
                problem = self._spool(spool)
                if problem is None:
                    yield from _batches(spool)
                    return
                if isinstance(problem, BrokenPagination) or attempt == SNAPSHOT_ATTEMPTS:
                    raise _failure(problem, attempt, self.account, self.endpoint)
                logger.warning(
                    f"The seat list{self.of} did not add up ({problem.problem}): seats were probably"
                    " assigned or removed while it was read. Reading it again"
                    f" (read {attempt + 1} of {SNAPSHOT_ATTEMPTS})."
                )
                time.sleep(self.client.retry_delay(attempt))
        finally:
            remove_work_folder(folder)

    def _spool(self, spool: Path) -> PageProblem | None:
        """One read of every page into `spool`; the problem that makes it unusable, if any."""
        tally = _Tally()
        try:
            with open(spool, "w", encoding="utf-8") as out, closing(self._pages()) as pages:
                for page in pages:
                    tally.page(page)
                    out.writelines(json.dumps(seat) + "\n" for seat in page.seats if tally.add(seat))
            tally.check()
        except PageProblem as problem:
            return problem
        return None

    def _pages(self) -> Generator[SeatPage, None, None]:
        path = f"{self.account.scope.path}/{self.account.slug}/copilot/billing/seats"
        return seat_pages(self.client, path, self.endpoint, self.workers)


def _batches(spool: Path) -> Iterator[list[Seat]]:
    with open(spool, encoding="utf-8") as lines:
        batch: list[Seat] = []
        for line in lines:
            batch.append(json.loads(line))
            if len(batch) == SEAT_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def _failure(problem: PageProblem, reads: int, account: Account, endpoint: str) -> SeatDataError:
    seats, activity = seat_tables(account.scope)
    untouched = (
        f"Nothing of `{seats}` or `{activity}` was loaded: a partial list would record seats that"
        " are still assigned as removed."
    )
    if isinstance(problem, BrokenPagination):
        cause = f"GitHub's seat pages cannot be read to the end: {problem.problem}. {untouched}"
        fix = (
            "Run again later. If it keeps failing, GitHub (or a proxy in front of it) sends wrong"
            " `Link` headers: contact GitHub support with the request id."
        )
    else:
        cause = (
            f"{endpoint[0].upper()}{endpoint[1:]} did not add up to one complete list in {reads} reads:"
            f" {problem.problem}. {untouched}"
        )
        fix = (
            "Run again later: seats assigned or removed while the list is read move it under the"
            " reader. If it keeps failing, contact GitHub support with the request id."
        )
    return SeatDataError(cause, fix, request_id=problem.request_id, docs_url=DOCS["seats"], endpoint=endpoint)
