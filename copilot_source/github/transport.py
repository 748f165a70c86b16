"""The HTTP plumbing under the client: dlt's retrying sessions, with each transfer bounded in time.

requests' timeouts bound each wait on a socket, not a whole answer: a server that sends a byte
every few seconds is never timed out. So every transfer runs under a deadline, kept by one
watchdog thread that shuts the transfer's sockets down when it passes; the blocked read then
fails at once. Every retry of dlt's retrying session (a reset, a timeout, a 5xx) is logged as it
happens, and a connection can be refused by where it really leads (its peer address).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from dlt.common import logger
from dlt.sources.helpers.requests import Client, Session
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection

from copilot_source.github.urls import IPAddress, describe

RETRY_STATUS = (500, 502, 503, 504)
# how often the watchdog shuts down sockets that a transfer past its deadline opened meanwhile
SWEEP_SECONDS = 0.1


class DeadlineExceeded(Exception):
    """A transfer outlived its deadline. Not a requests error: dlt's session does not retry it."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"not finished within {seconds:g} s")
        self.seconds = seconds


class PeerRefused(Exception):
    """A connection reached an address the transfer may not talk to (e.g. cloud metadata)."""


PeerCheck = Callable[[IPAddress], "str | None"]


class Transfer:
    """One transfer's deadline and the sockets it uses, which the watchdog may shut down."""

    def __init__(self, seconds: float, check_peer: PeerCheck | None = None) -> None:
        self.seconds = seconds
        self.ends_at = time.monotonic() + seconds
        self.check_peer = check_peer
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.ends_at - time.monotonic()

    def check(self) -> None:
        """Raise `DeadlineExceeded` once the deadline has passed."""
        if self.expired or self.remaining() <= 0:
            raise DeadlineExceeded(self.seconds)

    def attach(self, sock: socket.socket | None) -> None:
        """Watch `sock` (a response keeps reading from it after its connection let it go)."""
        if sock is not None:
            with self._lock:
                if all(known is not sock for known in self._sockets):
                    self._sockets.append(sock)
        self.check()

    def expire(self) -> None:
        """Shut down every socket of the transfer: whatever blocks on one returns at once."""
        self.expired = True
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            # the plain socket call: a TLS socket's own shutdown would also drop its state; a
            # socket closed meanwhile has no descriptor any more and refuses (never another's)
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for all transfers: it sleeps until the earliest deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: set[Transfer] = set()
        self._thread: threading.Thread | None = None

    def add(self, transfer: Transfer) -> None:
        with self._cond:
            self._active.add(transfer)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="copilot-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def discard(self, transfer: Transfer) -> None:
        with self._cond:
            self._active.discard(transfer)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                due = [t for t in self._active if t.ends_at <= now]
                for transfer in due:
                    transfer.expire()
                upcoming = [t.ends_at - now for t in self._active if t.ends_at > now]
                self._cond.wait(SWEEP_SECONDS if due else min(upcoming, default=None))


_WATCHDOG = _Watchdog()
_current = threading.local()


def current_transfer() -> Transfer | None:
    transfer: Transfer | None = getattr(_current, "transfer", None)
    return transfer


@contextmanager
def transfer(seconds: float, check_peer: PeerCheck | None = None) -> Iterator[Transfer]:
    """Bound what this thread sends and receives inside the block by `seconds` in all.

    Inside an outer transfer, the outer one goes on (a download's hops share its deadline).
    """
    outer = current_transfer()
    if outer is not None:
        yield outer
        return
    bounded = Transfer(seconds, check_peer)
    _current.transfer = bounded
    _WATCHDOG.add(bounded)
    try:
        yield bounded
    finally:
        _WATCHDOG.discard(bounded)
        _current.transfer = None


class _Bounded:
    """Connections whose sockets join the thread's transfer, and that refuse a peer it may not
    talk to. (A TLS handshake is bounded by the per-read timeout only: its socket joins after.)"""

    sock: Any
    proxy: Any

    def _new_conn(self) -> socket.socket:
        bounded = current_transfer()
        if bounded is not None:
            bounded.check()
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        if bounded is not None and bounded.check_peer is not None and not self.proxy:
            peer = ipaddress.ip_address(sock.getpeername()[0])
            problem = bounded.check_peer(peer)
            if problem:
                sock.close()
                raise PeerRefused(problem)
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        bounded = current_transfer()
        if bounded is not None:
            bounded.attach(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        bounded = current_transfer()
        if bounded is not None:
            bounded.attach(self.sock)  # a kept-alive connection; a new one joins on connect
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Bounded, HTTPConnection):
    pass


class _HTTPSConnection(_Bounded, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


POOL_CLASSES = {"http": _HTTPPool, "https": _HTTPSPool}


class _BoundedAdapter(HTTPAdapter):
    """requests' adapter, with pools whose connections keep to the thread's transfer."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = POOL_CLASSES
        return manager


def network_problem(exc: BaseException) -> str:
    """What went wrong on the way to a host, in words (requests folds it all into a few types)."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed (a certificate problem, or a proxy intercepting TLS)"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy refused or failed the connection"
    if isinstance(exc, requests.exceptions.Timeout):
        return "the connection timed out"
    if any(s in text for s in ("NameResolutionError", "Failed to resolve", "Name or service not known", "getaddrinfo")):
        return "the host name does not resolve (DNS)"
    if "refused" in text.lower():
        return "the connection was refused"
    if "reset" in text.lower() or "aborted" in text.lower():
        return "the connection was dropped"
    return "the connection failed"


def _log_retry(max_attempts: int) -> Callable[[RetryCallState], None]:
    """A tenacity `before_sleep` hook: one WARNING per retry, when it is decided."""

    def log(state: RetryCallState) -> None:
        request: requests.PreparedRequest = state.args[1]  # attempt(session, request)
        outcome = state.outcome
        assert outcome is not None
        failure = outcome.exception()
        problem = network_problem(failure) if failure else f"it answered {outcome.result().status_code}"
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            f"{request.method} {describe(request.url or '')}: {problem}; retrying in {wait:.1f} s"
            f" (attempt {state.attempt_number + 1} of {max_attempts})."
        )

    return log


class RetryingClient(Client):
    """dlt's retrying client (`[runtime]` request settings) that logs each retry and bounds each
    attempt by `attempt_seconds` (unless the caller runs a longer transfer around it)."""

    def __init__(self, attempt_seconds: float) -> None:
        super().__init__(raise_for_status=False, status_codes=RETRY_STATUS)
        self._adapter = _BoundedAdapter(pool_maxsize=50)
        self.attempt_seconds = attempt_seconds
        self.configure()  # dlt's [runtime] request_* settings

    def _make_session(self) -> Session:
        session = super()._make_session()
        retrying: Retrying = session.send.retry  # type: ignore[attr-defined]
        send: Callable[..., requests.Response] = type(session).send
        seconds = self.attempt_seconds

        def attempt(self_: Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            with transfer(seconds) as bounded:
                try:
                    response: requests.Response = send(self_, request, **kwargs)
                except requests.RequestException:
                    if bounded.expired:
                        raise DeadlineExceeded(bounded.seconds) from None
                    raise
                if bounded.expired:
                    # cut off mid-headers, http.client may still make an answer of what it got
                    response.close()
                    raise DeadlineExceeded(bounded.seconds)
                return response

        logged = retrying.copy(before_sleep=_log_retry(int(self._retry_kwargs["max_attempts"])))
        wrapped = logged.wraps(attempt)
        session.send = lambda request, **kwargs: wrapped(session, request, **kwargs)  # type: ignore[method-assign]
        return session
