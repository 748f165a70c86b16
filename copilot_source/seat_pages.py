"""The enterprise's seat pages, read in order and bounded: no page twice, no endless list.

GitHub pages the seats with `Link` headers. When the first page names the last one, the rest
are fetched side by side; otherwise `next` is followed one page at a time. Either way the
number of pages is bounded by what `total_seats` allows, so links that loop back or run on
(or a `last` page of 300,000,000) fail at once instead of burning the rate limit.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from copilot_source.concurrency import ordered_map
from copilot_source.declarations import DOCS
from copilot_source.github.client import GitHubClient

SEATS_PER_PAGE = 100
# a person has one seat row per organization or team granting it: on average far fewer than this
ROWS_PER_PERSON_BOUND = 10
Seat = dict[str, Any]


class PageProblem(Exception):
    """What makes a read of the pages unusable, in words, with the request id that showed it."""

    def __init__(self, problem: str, request_id: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.request_id = request_id


class ListMoved(PageProblem):
    """The pages do not add up to one snapshot (the list changed while read): read it again."""


class BrokenPagination(PageProblem):
    """GitHub's links loop back or run on: reading again would only do the same."""


@dataclass
class SeatPage:
    """One page as GitHub answered it."""

    number: int
    total_seats: int
    seats: list[Seat]
    request_id: str | None
    links: dict[str, str] = field(default_factory=dict)


def page_number(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("page")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query["page"] = str(page)
    return parts._replace(query=urlencode(query)).geturl()


def page_bound(total_seats: int) -> int:
    """The most pages `total_seats` people can fill, however many seats each holds."""
    return -(-total_seats * ROWS_PER_PERSON_BOUND // SEATS_PER_PAGE) + 1


def parse_page(response: requests.Response, number: int) -> SeatPage:
    """A page's body as `{total_seats: int, seats: [object]}`, or the problem with it."""
    request_id = response.headers.get("x-github-request-id")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ListMoved(f"page {number} is not a JSON seat list", request_id)
    total, seats = body.get("total_seats"), body.get("seats")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ListMoved(f"page {number} has no seat count (`total_seats` is {total!r})", request_id)
    if not isinstance(seats, list) or not all(isinstance(seat, dict) for seat in seats):
        raise ListMoved(f"page {number} has no list of seat objects (`seats`)", request_id)
    links = {rel: link["url"] for rel, link in response.links.items() if "url" in link}
    return SeatPage(number, total, seats, request_id, links)


def seat_pages(client: GitHubClient, path: str, endpoint: str, workers: int) -> Generator[SeatPage, None, None]:
    """Every page of a seat list (`path`, e.g. enterprises/octo/copilot/billing/seats), in order,
    each at most once."""

    def fetch(url: str) -> requests.Response:
        return client.get(url, endpoint, DOCS["seats"])

    params = {"per_page": SEATS_PER_PAGE, "page": 1}
    first = parse_page(client.get(path, endpoint, DOCS["seats"], params=params), 1)
    yield first
    bound = page_bound(first.total_seats)
    last = page_number(first.links.get("last", ""))
    if last is not None and last > bound:
        raise BrokenPagination(
            f"page 1 links to a last page of {last}, while {first.total_seats} people fit on at"
            f" most {bound} pages of {SEATS_PER_PAGE}",
            first.request_id,
        )
    if "next" not in first.links:
        return
    if last is not None and last > 1:
        # the page count is known: fetch the rest side by side, in order (URLs made as needed)
        numbers = range(2, last + 1)
        urls = (with_page(first.links["last"], number) for number in numbers)
        page = first
        for number, response in zip(numbers, ordered_map(fetch, urls, workers), strict=True):
            page = parse_page(response, number)
            yield page
        if "next" in page.links:
            raise ListMoved(f"page {last}, the last one page 1 named, links to a next page", page.request_id)
        return
    yield from _follow_next(first, bound, fetch)


def _follow_next(first: SeatPage, bound: int, fetch: Callable[[str], requests.Response]) -> Iterator[SeatPage]:
    """Pages one by one along `next`: never a page already read, never past `bound` pages."""
    visited = {1}
    page = first
    while "next" in page.links:
        url = page.links["next"]
        number = page_number(url)
        if number is None or number in visited:
            said = "a page without a page number" if number is None else f"page {number}, already read"
            raise BrokenPagination(f"page {page.number} links on to {said}", page.request_id)
        if len(visited) >= bound:
            raise BrokenPagination(
                f"the pages go on past page {page.number}, while {first.total_seats} people fit on"
                f" at most {bound} pages of {SEATS_PER_PAGE}",
                page.request_id,
            )
        visited.add(number)
        page = parse_page(fetch(url), number)
        yield page
