"""Capture what the source logs through dlt's logger (which does not propagate to the root)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def dlt_warnings() -> Iterator[list[str]]:
    """Warnings logged through dlt's logger inside the block, as their final (redacted) text."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    dlt_logger = logging.getLogger("dlt")
    dlt_logger.addHandler(handler)
    try:
        yield messages
    finally:
        dlt_logger.removeHandler(handler)
