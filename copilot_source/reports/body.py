"""A report file's body from the wire to disk: counted, inflated and checked line by line.

The body is read raw, because urllib3 inflates only the first member of a gzip body and quietly
drops the rest. So every byte is counted here, before anything reaches the disk: bytes received
and bytes inflated are capped, and so is the length of a line. A body may be gzip (one member or
several, as `cat a.gz b.gz` makes them), sent with `Content-Encoding: gzip`, as a gzip file, or
both; anything but zero padding after the last member is an error.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import requests

from copilot_source.github.transport import Transfer
from copilot_source.reports.lines import LineProblem, decode_line

# one read from the socket at most (`read1` hands over what has arrived, up to this)
READ_BYTES = 1 << 20
# what one inflate step may produce: a bomb never inflates more than this at a time
INFLATE_BYTES = 4 << 20
GZIP_MAGIC = b"\x1f\x8b"
GZIP_ENCODINGS = ("gzip", "x-gzip")
JSON_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True)
class Limits:
    """Caps on one file (`max_download_bytes`, `max_line_bytes` under [sources.copilot])."""

    max_bytes: int
    max_line_bytes: int


class OverLimit(Exception):
    """More bytes than a cap allows: `kind` is "received", "inflated" or "line"."""

    def __init__(self, kind: str, limit: int) -> None:
        super().__init__(f"more than {limit} bytes {kind}")
        self.kind = kind
        self.limit = limit


class BadGzip(Exception):
    """A gzip body that is damaged or followed by something that is not gzip."""


class UnknownEncoding(Exception):
    """A `Content-Encoding` the source did not ask for (it asks for gzip only)."""


class Truncated(Exception):
    """A file arrived incomplete."""


class LastLineCut(Truncated):
    """The file's last line does not parse: cut in transfer, or bad data if it always arrives so."""

    def __init__(self, line: int) -> None:
        super().__init__("the last line is cut off")
        self.line = line


class _Stage(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def finish(self) -> Iterator[bytes]: ...


class GzipMembers:
    """Inflates a gzip stream of one or more members, in pieces of at most `INFLATE_BYTES`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.inflated = 0
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._between = False  # a member ended: only padding or another member may follow
        self._pending = b""  # the start of what follows a member, too short to judge yet
        self._fed = False

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._inflater.decompress(data, INFLATE_BYTES)
            except zlib.error as exc:
                raise BadGzip(f"the gzip data is damaged ({exc})") from None
            self.inflated += len(out)
            if self.inflated > self.max_bytes:
                raise OverLimit("inflated", self.max_bytes)
            if out:
                yield out
            data = self._inflater.unconsumed_tail
            if self._inflater.eof or (not data and len(out) < INFLATE_BYTES):
                return

    def feed(self, data: bytes) -> Iterator[bytes]:
        data, self._pending = self._pending + data, b""
        self._fed = self._fed or bool(data)
        while data:
            if self._between:
                data = data.lstrip(b"\0")  # zero padding, which gzip tools accept
                if len(data) < len(GZIP_MAGIC) and GZIP_MAGIC.startswith(data):
                    self._pending = data
                    return
                if data and not data.startswith(GZIP_MAGIC):
                    raise BadGzip("the gzip data is followed by bytes that are not gzip")
                if not data:
                    return
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._between = False
            yield from self._inflate(data)
            if not self._inflater.eof:
                return
            data, self._between = self._inflater.unused_data, True

    def finish(self) -> Iterator[bytes]:
        if self._pending:
            raise BadGzip("the gzip data is followed by bytes that are not gzip")
        if self._fed and not self._between:
            raise Truncated("the gzip stream ended early")
        return iter(())


class Sniff:
    """A body that is a gzip file (whatever its headers say) is inflated; NDJSON passes as is."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._head = b""
        self._gzip: GzipMembers | None = None
        self._decided = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not self._decided:
            self._head += data
            if len(self._head) < len(GZIP_MAGIC):
                return
            data, self._head, self._decided = self._head, b"", True
            if data.startswith(GZIP_MAGIC):
                self._gzip = GzipMembers(self.max_bytes)
        if self._gzip is not None:
            yield from self._gzip.feed(data)
        elif data:
            yield data

    def finish(self) -> Iterator[bytes]:
        if self._head:
            yield self._head
        if self._gzip is not None:
            yield from self._gzip.finish()


class LineWriter:
    """Writes a file while watching its lines: none longer than the cap, and where the last is.

    Lines are not counted as they pass (a second scan of every byte): the number of a cut last line
    is counted from the file when one is found (`line_number_at`)."""

    def __init__(self, out: BinaryIO, limits: Limits) -> None:
        self.out = out
        self.limits = limits
        self.size = 0
        self.line_start = 0  # offset of the line being written
        # offset of the last line that holds more than whitespace
        self.last_line: int | None = None

    def _check_lines(self, data: bytes) -> None:
        limit = self.limits.max_line_bytes
        if self.size - self.line_start + len(data) <= limit:
            return  # no line in here can be too long: skip the scan
        position, carried = 0, self.size - self.line_start
        while True:
            newline = data.find(b"\n", position)
            end = len(data) if newline < 0 else newline
            if carried + end - position > limit:
                raise OverLimit("line", limit)
            if newline < 0:
                return
            position, carried = newline + 1, 0

    def write(self, data: bytes) -> None:
        if self.size + len(data) > self.limits.max_bytes:
            raise OverLimit("inflated", self.limits.max_bytes)
        self._check_lines(data)
        content = len(data.rstrip(JSON_WHITESPACE))
        if content:
            before = data.rfind(b"\n", 0, content)
            self.last_line = self.line_start if before < 0 else self.size + before + 1
        last_newline = data.rfind(b"\n")
        if last_newline >= 0:
            self.line_start = self.size + last_newline + 1
        self.out.write(data)
        self.size += len(data)


def line_number_at(path: Path, offset: int) -> int:
    """The number (from 1) of the line that starts at `offset` in the file at `path`."""
    newlines = 0
    with open(path, "rb") as file:
        while offset > 0:
            piece = file.read(min(offset, READ_BYTES))
            if not piece:
                break
            newlines += piece.count(b"\n")
            offset -= len(piece)
    return newlines + 1


def check_last_line(path: Path, writer: LineWriter) -> None:
    """A cut-off file ends in the middle of a line: its last line does not parse."""
    if writer.last_line is None:
        return
    offset = writer.last_line
    with open(path, "rb") as file:
        file.seek(offset)
        line = file.read(writer.limits.max_line_bytes + 1).split(b"\n", 1)[0]
    try:
        decode_line(line)
    except LineProblem as problem:
        if problem.cut:  # not JSON at all: cut off in transfer (a bad value is the reader's to report)
            raise LastLineCut(line_number_at(path, offset)) from None


def save_body(
    response: requests.Response, target: Path, limits: Limits, bounded: Transfer, ndjson: bool = True
) -> None:
    """Stream `response`'s body to `target`, inflated, within `limits` and `bounded`'s deadline.

    An NDJSON file must end in a whole JSON line; any other text file (a CSV export) in a newline.
    """
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", *GZIP_ENCODINGS):
        raise UnknownEncoding(encoding)
    announced = response.headers.get("content-length", "").strip()
    expected = int(announced) if announced.isdigit() else None
    if expected is not None and expected > limits.max_bytes:
        raise OverLimit("received", limits.max_bytes)
    stages: list[_Stage] = [GzipMembers(limits.max_bytes)] if encoding in GZIP_ENCODINGS else []
    stages.append(Sniff(limits.max_bytes))
    received = 0
    with open(target, "wb") as file:
        writer = LineWriter(file, limits)

        def push(data: bytes, index: int = 0) -> None:
            if index == len(stages):
                writer.write(data)
                return
            for out in stages[index].feed(data):
                push(out, index + 1)

        def finish(index: int = 0) -> None:
            if index == len(stages):
                return
            for out in stages[index].finish():
                push(out, index + 1)
            finish(index + 1)

        while True:
            bounded.check()
            piece = response.raw.read1(READ_BYTES, decode_content=False)
            if not piece:
                break
            received += len(piece)
            if received > limits.max_bytes:
                raise OverLimit("received", limits.max_bytes)
            push(piece)
        bounded.check()
        if expected is not None and received != expected:
            raise Truncated(f"{received} of {expected} bytes")
        finish()
    if ndjson:
        check_last_line(target, writer)
    elif writer.size and not _ends_with_newline(target):
        raise Truncated("the last line has no end")


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, 2)
        return file.read(1) == b"\n"
