"""Raw hostile servers on loopback: they relay to the fake GitHub, or misbehave on purpose.

Each server records every request it receives (`Wire`), whoever sent it, so a test can say
where the token went. A server speaks plain HTTP or TLS (a self-signed certificate for the
127.0.0.x addresses, trusted through REQUESTS_CA_BUNDLE). Behaviours write raw bytes, so they
can do what a well-behaved server never does: trickle, never end, redirect anywhere.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOOPBACKS = [f"127.0.0.{n}" for n in range(1, 10)]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate (its own CA) for localhost and 127.0.0.1-9, and its key, as PEM files."""
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    names = ",".join(["DNS:localhost", *(f"IP:{address}" for address in LOOPBACKS)])
    command = [
        *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
        *("-keyout", str(key_path), "-out", str(cert_path), "-days", "2", "-subj", "/CN=copilot-source tests"),
        *("-addext", f"subjectAltName={names}", "-addext", "basicConstraints=critical,CA:TRUE"),
    ]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert_path, key_path


@dataclass
class Heard:
    """One request as a hostile server received it."""

    server: str
    origin: str
    method: str
    path: str
    headers: dict[str, str]

    @property
    def authorization(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "authorization"), None)


@dataclass
class Wire:
    """Every request every hostile server of a test received, in order."""

    heard: list[Heard] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, heard: Heard) -> None:
        with self.lock:
            self.heard.append(heard)

    def at(self, server: str) -> list[Heard]:
        with self.lock:
            return [h for h in self.heard if h.server == server]


class Exchange(BaseHTTPRequestHandler):
    """The request handler: it records the request, then hands it to the server's behaviour."""

    protocol_version = "HTTP/1.1"
    server: HostileServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.server.wire.add(
            Heard(self.server.name, self.server.url, self.command, self.path, dict(self.headers.items()))
        )
        self.close_connection = True
        # the client hanging up is expected of the servers it must stop
        with contextlib.suppress(OSError):
            self.server.behaviour(self)

    # ---- raw writing -----------------------------------------------------------------------
    def head(self, status: int, headers: list[tuple[str, str]]) -> None:
        reason = http.client.responses.get(status, "Whatever")
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers), "Connection: close", "", ""]
        self.wfile.write("\r\n".join(lines).encode())
        self.wfile.flush()

    def answer(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.head(status, [*(headers or []), ("Content-Length", str(len(body)))])
        self.wfile.write(body)
        self.wfile.flush()
        self.server.sent += len(body)

    def chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
        self.server.sent += len(data)

    @property
    def stopping(self) -> bool:
        return self.server.stopping.is_set()


Behaviour = Callable[[Exchange], None]


class HostileServer(ThreadingHTTPServer):
    """`with HostileServer(name, host, behaviour, wire) as server:`; its URL is `server.url`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, name: str, host: str, behaviour: Behaviour, wire: Wire, tls: tuple[Path, Path] | None = None
    ) -> None:
        super().__init__((host, 0), Exchange)
        self.name = name
        self.behaviour = behaviour
        self.wire = wire
        self.sent = 0  # body bytes written, for what an endless body managed to send
        self.stopping = threading.Event()
        self._tls: ssl.SSLContext | None = None
        if tls is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*tls)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host!s}:{port}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self._tls is None:
            super().finish_request(request, client_address)
            return
        # the handshake in the request's own thread: a stalled client blocks nobody else
        request.settimeout(10)
        try:
            wrapped = self._tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()  # the server closes only the plain socket it accepted

    def handle_error(self, request: Any, client_address: Any) -> None:
        return

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


# ---- behaviours ---------------------------------------------------------------------------
HOP_HEADERS = {"connection", "content-length", "transfer-encoding", "keep-alive", "host"}


def relay(
    upstream: str,
    *,
    rewrite_link: Callable[[str], str] | None = None,
    rewrite_download: Callable[[str], str] | None = None,
    tamper: Callable[[Exchange], bool] | None = None,
) -> Behaviour:
    """Pass requests on to `upstream` (the fake GitHub) and its answers back, optionally with
    pagination links and download links rewritten, or answered by `tamper` when it returns True."""
    target = urlsplit(upstream)

    def behave(exchange: Exchange) -> None:
        if tamper is not None and tamper(exchange):
            return
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {k: v for k, v in exchange.headers.items() if k.lower() not in HOP_HEADERS}
        connection.request(exchange.command, exchange.path, headers=headers)
        answer = connection.getresponse()
        body = answer.read()
        connection.close()
        out = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_HEADERS]
        if rewrite_link is not None:
            out = [(k, _rewrite_links(v, rewrite_link) if k.lower() == "link" else v) for k, v in out]
        if rewrite_download is not None and b"download_links" in body:
            payload = json.loads(body)
            payload["download_links"] = [rewrite_download(link) for link in payload["download_links"]]
            body = json.dumps(payload).encode()
        exchange.answer(answer.status, body, out)

    return behave


def _rewrite_links(value: str, rewrite: Callable[[str], str]) -> str:
    parts = []
    for part in value.split(","):
        url, _, rest = part.strip().partition(">")
        parts.append(f"<{rewrite(url.lstrip('<'))}>{rest}")
    return ", ".join(parts)


def moved_to(base: str, url: str) -> str:
    """`url` with its scheme, host and port replaced by `base`'s (path and query kept)."""
    parts = urlsplit(url)
    return f"{base}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def answer(status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> Behaviour:
    def behave(exchange: Exchange) -> None:
        exchange.answer(status, body, headers)

    return behave


def redirect(location: Callable[[Exchange], str], status: int = 302) -> Behaviour:
    def behave(exchange: Exchange) -> None:
        exchange.answer(status, b"", [("Location", location(exchange))])

    return behave


def endless(piece: bytes, headers: list[tuple[str, str]] | None = None) -> Behaviour:
    """A chunked body that never ends (until the client hangs up or the test stops)."""

    def behave(exchange: Exchange) -> None:
        exchange.head(200, [*(headers or []), ("Transfer-Encoding", "chunked")])
        while not exchange.stopping:
            exchange.chunk(piece)

    return behave


def trickle(interval: float, in_headers: bool) -> Behaviour:
    """One byte every `interval` seconds: of the status line and headers, or of a body."""

    def behave(exchange: Exchange) -> None:
        if not in_headers:
            exchange.head(200, [("Content-Length", "100000")])
        data = iter(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100000) if in_headers else iter(b"{" * 100000)
        for byte in data:
            if exchange.stopping:
                return
            exchange.wfile.write(bytes([byte]))
            exchange.wfile.flush()
            exchange.server.sent += 1
            time.sleep(interval)

    return behave


def gzip_members(*parts: bytes) -> bytes:
    """A gzip body of several members, as `cat a.gz b.gz` makes it."""
    return b"".join(gzip.compress(part, compresslevel=1) for part in parts)


@dataclass
class DiskWatch:
    """The most bytes a folder held at once, and the largest one file in it, while the watch ran
    (polled every few milliseconds)."""

    folder: Path
    peak: int = 0
    largest_file: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sizes(self) -> list[int]:
        sizes = []
        # the run creates and removes its folders while this counts: a vanished one holds nothing
        with contextlib.suppress(OSError):
            for path in self.folder.rglob("*") if self.folder.exists() else ():
                with contextlib.suppress(OSError):
                    if path.is_file():
                        sizes.append(path.stat().st_size)
        return sizes

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes = self._sizes()
            self.peak = max(self.peak, sum(sizes))
            self.largest_file = max([self.largest_file, *sizes])
            time.sleep(0.005)

    def __enter__(self) -> DiskWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
