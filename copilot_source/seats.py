"""Seat assignments: read every page, split each seat into its assignment and its activity.

A person holds one seat row per granting organization or team, so a seat is keyed by
(assignee id, organization id, team id). The assignment fields carry a hash that changes only
when the assignment does, so dlt's scd2 history records real changes, not daily activity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dlt.common.schema.typing import TWriteDispositionConfig

from copilot_source.concurrency import ordered_map
from copilot_source.declarations import DOCS
from copilot_source.github.client import GitHubClient

SEATS_PER_PAGE = 100

ACTIVITY_FIELDS = ("last_activity_at", "last_activity_editor", "last_authenticated_at", "updated_at")
TIMESTAMP_FIELDS = ("created_at", "last_activity_at", "last_authenticated_at", "updated_at")
Seat = dict[str, Any]
# dlt's scd2: a new version only when the assignment hash changes; absent seats are retired
SEAT_HISTORY: TWriteDispositionConfig = {
    "disposition": "merge",
    "strategy": "scd2",
    "row_version_column_name": "assignment_hash",
}


def page_number(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("page")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


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
        **_typed(assignment),
    }


def activity_row(seat: Seat, snapshot_day: date) -> Seat:
    """What the seat's user did, as seen on `snapshot_day`."""
    typed = _typed(seat)
    return {
        "snapshot_day": snapshot_day,
        "seat_key": seat_key(seat),
        "assignee_id": (seat.get("assignee") or {}).get("id"),
        "assignee_login": (seat.get("assignee") or {}).get("login"),
        "organization_id": (seat.get("organization") or {}).get("id"),
        "assigning_team_id": (seat.get("assigning_team") or {}).get("id"),
        **{name: typed[name] for name in ACTIVITY_FIELDS if name in typed},
    }


def seat_pages(client: GitHubClient, enterprise: str, workers: int) -> Iterator[list[Seat]]:
    """Every page of the enterprise's seats, each seat once (pages are a live view)."""
    path = f"enterprises/{enterprise}/copilot/billing/seats"

    def fetch(url: str) -> Any:
        response = client.get(url, "the enterprise's Copilot seats", DOCS["seats"])
        return response

    first = client.get(
        path, "the enterprise's Copilot seats", DOCS["seats"], params={"per_page": SEATS_PER_PAGE, "page": 1}
    )
    seen: set[str] = set()

    def unique(page: Any) -> list[Seat]:
        fresh = []
        for seat in page.json().get("seats") or []:
            key = seat_key(seat)
            if key not in seen:
                seen.add(key)
                fresh.append(seat)
        return fresh

    yield unique(first)
    links = {rel: link["url"] for rel, link in first.links.items()}
    last = page_number(links.get("last", ""))
    if last and "next" in links:
        # the page count is known: fetch the rest side by side, in order
        template = links["last"]
        urls = [_with_page(template, page) for page in range(2, last + 1)]
        for response in ordered_map(fetch, urls, workers):
            yield unique(response)
        return
    url = links.get("next")
    while url:
        response = fetch(url)
        yield unique(response)
        url = response.links.get("next", {}).get("url")


def _with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    query["page"] = [str(page)]
    pairs = "&".join(f"{k}={v[0]}" for k, v in query.items())
    return parts._replace(query=pairs).geturl()
