"""What makes a report line loadable: the one place both parsers (and the downloader) ask.

A line is one JSON object (strict JSON: no NaN, no field named twice, no field whose name dlt's
naming would merge with another's, e.g. `UserId` beside `user_id`). A wrapper line (28-day style)
holds its day rows in `day_totals[]`; a flat line is one day row. Every day row names its key
fields and the day that was asked for. The Arrow fast path checks the same things vectorised and
hands any line it doubts to `rows.LineConverter`, which applies these functions one line at a time.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from dlt.common.normalizers.naming import NamingConvention
from dlt.common.normalizers.naming.snake_case import NamingConvention as SnakeCase

from copilot_source.reports.layout import DAY_ROWS

Record = dict[str, Any]
# `\ud800`..`\udfff`: the escapes that may leave half of a surrogate pair in a string
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


class LineProblem(Exception):
    """A line that cannot be loaded; `what` completes "the line ..." in the error."""

    def __init__(self, what: str, cut: bool = False) -> None:
        super().__init__(what)
        self.what = what
        # not JSON at all: what a line cut off in transfer looks like
        self.cut = cut


def _unique_fields(pairs: list[tuple[str, Any]]) -> Record:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise LineProblem(f"names the field {name!r} twice")
            seen.add(name)
    return record


def _no_constant(name: str) -> Any:
    raise LineProblem(f"is not valid JSON ({name} is not a JSON number)")


def _number(text: str) -> Any:
    """A JSON number with a fraction or exponent; one too large for a double stays its exact text."""
    value = float(text)
    return value if math.isfinite(value) else text


def _check_text(value: Any) -> None:
    """Strings must be Unicode: JSON's escapes can write half of a surrogate pair, nothing stores it."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def decode_line(raw: bytes) -> Any:
    """The JSON value of one line, strictly; raises `LineProblem` saying what is wrong."""
    try:
        value = json.loads(raw, object_pairs_hook=_unique_fields, parse_constant=_no_constant, parse_float=_number)
        if _SURROGATE_ESCAPE.search(raw):
            _check_text(value)
        return value
    except UnicodeEncodeError:
        raise LineProblem("holds text that is not valid Unicode (half of a surrogate pair)") from None
    except json.JSONDecodeError as exc:
        raise LineProblem(f"is not valid JSON ({exc.msg})", cut=True) from None
    except (UnicodeDecodeError, TypeError):
        raise LineProblem("is not valid UTF-8 JSON", cut=True) from None
    except RecursionError:
        raise LineProblem("nests too deeply") from None


def day_rows(record: Any) -> list[Record]:
    """The day rows of a line: its `day_totals[]` (each with the wrapper's fields it lacks), or itself."""
    if not isinstance(record, dict):
        raise LineProblem("is not a JSON object")
    rows = record.get(DAY_ROWS)
    if not isinstance(rows, list):
        return [record]
    outer = {k: v for k, v in record.items() if k != DAY_ROWS}
    merged = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise LineProblem(f"has a {DAY_ROWS}[{index}] that is not an object")
        day_row = dict(outer)
        # the day row's own values win; where it has none, the wrapper's stand
        day_row.update((k, v) for k, v in row.items() if v is not None or k not in outer)
        merged.append(day_row)
    return merged


class Names:
    """Field names as dlt's naming convention writes them, so two names never meet in one column."""

    def __init__(self, naming: NamingConvention | None = None) -> None:
        self._normalize: Callable[[str], str] = (naming or SnakeCase()).normalize_identifier
        self._known: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        found = self._known.get(name)
        if found is None:
            try:
                found = self._normalize(name)
            except ValueError:
                raise LineProblem(f"has a field with an empty or unusable name {name!r}") from None
            self._known[name] = found
        return found


def collision(path: str, first: str, second: str) -> LineProblem:
    return LineProblem(f"has the fields {first!r} and {second!r}, which both load into the column {path!r}")


def wrong_day(found: Any, expected: date) -> LineProblem:
    return LineProblem(f"is for day {found}, not for {expected}, the day asked for")


def missing(key: str) -> LineProblem:
    return LineProblem(f"lacks {key}")


def misfit_key(key: str, value: Any, column_type: str) -> LineProblem:
    return LineProblem(f"has {key} {json.dumps(value)}, which is not a {column_type} like the column {key}")


def element_key(path: str, index: int, key: str, value: Any, expected: Any) -> LineProblem:
    return LineProblem(f"has {path}[{index}].{key} {json.dumps(value, default=str)}, not the line's {expected}")
