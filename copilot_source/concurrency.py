"""Overlap slow round trips without letting work pile up."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def ordered_map(
    function: Callable[[Item], Result], items: Iterable[Item], workers: int
) -> Generator[Result, None, None]:
    """`map` over a thread pool: results come in input order, at most `workers` at a time.

    Bounded so that a year of report days is never downloaded faster than it is loaded.
    Closing the generator (or an error) cancels what has not started and waits for the rest.
    """
    window = max(1, workers)
    pending: deque[Future[Result]] = deque()
    source = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="copilot") as pool:
        try:
            for item in source:
                pending.append(pool.submit(function, item))
                if len(pending) >= window:
                    break
            while pending:
                result = pending.popleft().result()
                for item in source:
                    pending.append(pool.submit(function, item))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()
