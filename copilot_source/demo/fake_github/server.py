"""A fake GitHub speaking real HTTP on loopback: the API on one host, report files on another.

It answers what GitHub's published contract says (`../shared/contract/`): seats with `Link`
pagination, the report endpoints with signed links to NDJSON files on a second host, 404 for
days without a report, rate-limit headers on every API response, 401/403/404 errors with
GitHub's error body, and a switch to inject faults. It serves the demo and the tests.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from copilot_source.demo.fake_github import billing, orgs
from copilot_source.demo.fake_github.apps import Caller, FakeApp
from copilot_source.demo.fake_github.data import FakeEnterprise

ENTERPRISE_REPORTS = ("enterprise-1-day", "users-1-day", "user-teams-1-day", "repos-1-day")
ORGANIZATION_REPORTS = ("organization-1-day", "users-1-day", "user-teams-1-day", "repos-1-day")

ACCEPTED_SCOPES = "manage_billing:copilot, read:enterprise"
DOCS = "https://docs.github.com/enterprise-cloud@latest/rest/copilot"
API_FAULTS = ("500", "502", "503", "429", "429-bare", "403-secondary", "403-primary", "reset", "timeout")
FILE_FAULTS = ("500", "502", "503", "reset", "timeout", "stall", "truncate", "truncate-clean", "expire")
# query parameters that do not name what a request asks for (a refreshed link has new ones)
_VOLATILE_PARAMS = frozenset({"expires", "sig"})


@dataclass
class Faults:
    """A deterministic share of requests fails with each kind (0.0 = never, 1.0 = always).

    Whether a request fails depends on the seed, the kind, what it asks for and how many times
    it was asked for before, never on the order in which threads happen to send requests: a
    seed gives the same faults on every run. API kinds: 500, 502, 503, 429 (retry-after),
    429-bare (no wait given), 403-secondary (retry-after), 403-primary (remaining 0, reset in a
    second), reset (TCP RST), timeout (no answer within `FakeGitHub.slow_seconds`). File kinds:
    500, 502, 503, reset, timeout, stall (half the body, then silence), truncate (half the body,
    then RST), truncate-clean (a short body with a consistent length, its last line cut), expire
    (403 from the file host, as for an expired signature).
    """

    api: dict[str, float] = field(default_factory=dict)
    files: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    # faults for the next requests, in order, before the shares apply (None: no fault)
    api_next: list[str | None] = field(default_factory=list)
    files_next: list[str | None] = field(default_factory=list)

    def pick(self, kinds: dict[str, float], request: str) -> str | None:
        for kind, share in sorted(kinds.items()):
            if share > 0 and zlib.crc32(f"{self.seed}:{kind}:{request}".encode()) % 10_000 < share * 10_000:
                return kind
        return None


@dataclass
class Seen:
    """One request as the fake received it."""

    host: str
    path: str
    query: dict[str, str]
    authorization: str | None
    method: str = "GET"
    status: int = 0
    # the injected fault this request got, if any
    fault: str | None = None
    # the x-github-request-id it was answered with (API requests)
    request_id: str | None = None
    received_at: float = field(default_factory=time.time)


class FakeGitHub:
    """Start with `with FakeGitHub(enterprise) as gh:`; point the source at `gh.api_url`."""

    def __init__(
        self,
        enterprise: FakeEnterprise | None = None,
        token: str = "ghp_FakeTokenForTheDemo0000000000000000",
        scopes: str = "manage_billing:copilot",
        api_host: str = "127.0.0.1",
        files_host: str = "127.0.0.2",
        latency: float = 0.0,
        link_ttl: float = 300.0,
        file_encoding: str = "none",
        metrics_enabled: bool = True,
        rate_limit: int = 5000,
        storage: Path | None = None,
        today: date | None = None,
        fine_grained_token: str | None = None,
        app: FakeApp | None = None,
    ) -> None:
        self.enterprise = enterprise or FakeEnterprise()
        # the day seats are listed as of (tests pin it to the day their source runs as)
        self.today = today
        self.token = token
        self.scopes = scopes
        # a fine-grained personal access token: organizations yes, enterprises no (as on GitHub)
        self.fine_grained_token = fine_grained_token
        # a GitHub App with installations on the fake's accounts
        self.app = app
        # organizations whose 'Copilot usage metrics' policy is off: their reports answer 403
        self.org_policy_off: set[str] = set()
        # usage report exports: id -> [start, end, polls before it is completed]
        self.exports: dict[str, list[Any]] = {}
        # the next export requests answered 409 (another export is running), and polls per export
        self.export_busy = 0
        self.export_polls = 1
        # the next export file downloads answered 403, as for an expired signed link
        self.export_downloads_expired = 0
        self.latency = latency
        self.link_ttl = link_ttl
        # "none", "gzip-header" (Content-Encoding: gzip) or "gzip-body" (a .gz file)
        self.file_encoding = file_encoding
        self.metrics_enabled = metrics_enabled
        self.rate_limit = rate_limit
        self.faults = Faults()
        # how long "timeout" and "stall" faults keep a client waiting
        self.slow_seconds = 2.0
        # (report, day, file index) -> bytes to serve instead, or an HTTP status to answer
        self.file_overrides: dict[tuple[str, date, int], bytes | int] = {}
        # API path after /copilot/ (e.g. "billing/seats") -> (content type, body) answered with a 200
        # instead, once the token and scopes pass: what a proxy or a broken deployment might send
        self.api_bodies: dict[str, tuple[str, bytes]] = {}
        # (report, day) -> the file indexes its answer links to, in order (e.g. [0, 1, 1]: a link twice)
        self.link_overrides: dict[tuple[str, date], list[int]] = {}
        # (report, day) -> the `report_day` its answer states (GitHub answering for another day)
        self.report_day_overrides: dict[tuple[str, date], str] = {}
        self.seen: list[Seen] = []
        self.redirect_seats_to: str | None = None
        # rate-limit headers for the next API answers, in order, sent as they are (however absurd)
        self.rate_headers_next: list[dict[str, str]] = []
        # seat pages answered with `seats: []` (total_seats as ever): page -> how many more times
        self.empty_seat_pages: dict[int, int] = {}
        # seat keys unassigned once a seat page is served (before its answer leaves): page -> keys
        self.unassign_after_seat_page: dict[int, set[str]] = {}
        # the `Link` relations of a seat page instead of GitHub's: (page, last page) -> rel -> page
        self.seat_links: Callable[[int, int], dict[str, int]] | None = None
        self._storage = storage
        self._secret = b"fake-signing-key"
        self._lock = threading.Lock()
        self._counter = 0
        self._asked: dict[str, int] = {}
        self._used = 0
        self._reset_at = int(time.time()) + 3600
        self._api = _Server((api_host, 0), self, "api")
        self._files = _Server((files_host, 0), self, "files")
        self._threads: list[threading.Thread] = []

    # ---- lifecycle ------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        host, port = self._api.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def files_url(self) -> str:
        host, port = self._files.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeGitHub:
        for server in (self._api, self._files):
            # a short poll interval: `stop()` returns in milliseconds instead of up to a second
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self._api, self._files):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- what tests look at ---------------------------------------------------------------
    def calls(self, host: str = "api", path_part: str = "") -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.host == host and path_part in s.path]

    def clear_log(self) -> None:
        with self._lock:
            self.seen.clear()

    def set_rate_budget(self, remaining: int, reset_in: float) -> None:
        with self._lock:
            self._used = self.rate_limit - remaining
            self._reset_at = int(time.time() + reset_in)

    @property
    def rate_reset_at(self) -> int:
        """When the rate-limit budget resets (epoch seconds), as `x-ratelimit-reset` says."""
        with self._lock:
            return self._reset_at

    # ---- shared bookkeeping -----------------------------------------------------------------
    def _next(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _fault(self, kinds: dict[str, float], upcoming: list[str | None], seen: Seen) -> str | None:
        """The fault for this request: queued, else a function of what it asks for and how often."""
        query = "&".join(f"{k}={v}" for k, v in sorted(seen.query.items()) if k not in _VOLATILE_PARAMS)
        request = f"{seen.host}:{seen.path}?{query}"
        with self._lock:
            occurrence = self._asked[request] = self._asked.get(request, 0) + 1
            queued = upcoming.pop(0) if upcoming else None
        seen.fault = queued or self.faults.pick(kinds, f"{request}#{occurrence}")
        return seen.fault

    def _rate_headers(self) -> tuple[dict[str, str], bool]:
        """Count one request against the budget; True when the budget was already spent."""
        with self._lock:
            now = time.time()
            if now >= self._reset_at:
                self._used = 0
                self._reset_at = int(now) + 3600
            # as on GitHub: the request that leaves 0 remaining succeeds, the next one is refused
            spent = self._used >= self.rate_limit
            if not spent:
                self._used += 1
            remaining = max(0, self.rate_limit - self._used)
            headers = {
                "x-ratelimit-limit": str(self.rate_limit),
                "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-used": str(min(self._used, self.rate_limit)),
                "x-ratelimit-reset": str(self._reset_at),
                "x-ratelimit-resource": "core",
            }
            if self.rate_headers_next:
                headers.update(self.rate_headers_next.pop(0))
            return headers, spent

    def sign(self, path: str, expires: int) -> str:
        return hmac.new(self._secret, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()

    def file_bytes(self, report: str, day: date, index: int) -> bytes | None:
        """The bytes of one report file, as NDJSON text (cached on disk when `storage` is set)."""
        path = self._cache_path(report, day, index)
        if path is not None and path.exists():
            return path.read_bytes()
        parts = self.enterprise.split_files(self.report_lines(report, day))
        if index >= len(parts):
            return None
        body = "".join(line + "\n" for line in parts[index]).encode()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(body)
            tmp.replace(path)
        return body

    def file_count(self, report: str, day: date) -> int:
        return len(self.enterprise.split_files(self.report_lines(report, day)))

    def report_lines(self, report: str, day: date) -> list[str]:
        """The NDJSON lines of a report: `users-1-day` (the enterprise's), or
        `orgs/<login>/users-1-day` (an organization's)."""
        ent = self.enterprise
        if report.startswith("orgs/"):
            _, login, name = report.split("/")
            index = orgs.org_index(ent, login)
            assert index is not None, login
            if name == "organization-1-day":
                return orgs.org_day_lines(ent, index, day)
            if name == "users-1-day":
                return orgs.org_user_lines(ent, index, day)
            if name == "user-teams-1-day":
                return orgs.user_team_lines(ent, day, index)
            if name == "repos-1-day":
                return orgs.repo_lines(ent, day, index)
            raise KeyError(report)
        if report == "user-teams-1-day":
            return orgs.user_team_lines(ent, day, None)
        if report == "repos-1-day":
            return orgs.repo_lines(ent, day, None)
        return ent.report_lines(report, day)

    def identify(self, authorization: str) -> Caller | str | None:
        """Who sent a request: a Caller, "expired" (an installation token past its hour), a JWT
        complaint, or None (no credential GitHub would know)."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token:
            return None
        if token == self.token:
            return Caller("classic")
        if self.fine_grained_token and token == self.fine_grained_token:
            return Caller("fine-grained")
        if self.app is not None:
            if token.count(".") == 2:
                complaint = self.app.verify_jwt(token)
                return complaint if complaint else Caller("jwt")
            return self.app.caller(token)
        return None

    def _cache_path(self, report: str, day: date, index: int) -> Path | None:
        if self._storage is None:
            return None
        ent = self.enterprise
        fingerprint = repr(
            (report, ent._content_fingerprint(day), ent.files_per_report, ent.enterprise_report_shape, ent.org_count)
        )
        digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        return self._storage / digest / f"{report.replace('/', '-')}-{day}-{index}.ndjson"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeGitHub, role: str) -> None:
        self.fake = fake
        self.role = role
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeouts, injected resets) is expected, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    # ---- plumbing -------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, {"Content-Type": "application/json; charset=utf-8", **headers})

    def _error(self, status: int, message: str, headers: dict[str, str]) -> None:
        self._json(status, {"message": message, "documentation_url": DOCS, "status": str(status)}, headers)

    def _reset_connection(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _hang(self, fake: FakeGitHub) -> None:
        """Keep the client waiting past its timeout, then hang up."""
        time.sleep(fake.slow_seconds)
        self._reset_connection()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            self.posted: Any = json.loads(raw) if raw else None
        except ValueError:
            self.posted = None
        self.do_GET()

    def do_GET(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        seen = Seen(self.server.role, parts.path, query, self.headers.get("Authorization"), method=self.command)
        fake._record(seen)
        if fake.latency:
            time.sleep(fake.latency)
        if self.server.role == "api":
            self._api(fake, parts.path, query, seen)
        else:
            self._file(fake, parts.path, query, seen)

    def _transport_fault(
        self, fake: FakeGitHub, fault: str | None, seen: Seen, server_error: Callable[[int], None]
    ) -> bool:
        """Faults that look alike on both hosts: a reset, a hang, a 5xx. True if one was served."""
        if fault == "reset":
            self._reset_connection()
        elif fault == "timeout":
            self._hang(fake)
        elif fault in ("500", "502", "503"):
            seen.status = int(fault)
            server_error(int(fault))
        else:
            return False
        return True

    # ---- the API host ---------------------------------------------------------------------
    def _api(self, fake: FakeGitHub, path: str, query: dict[str, str], seen: Seen) -> None:
        number = fake._next()
        budget, spent = fake._rate_headers()
        seen.request_id = f"FAKE:{number:06X}"
        headers = {"x-github-request-id": seen.request_id, **budget}
        fault = fake._fault(fake.faults.api, fake.faults.api_next, seen)
        if self._transport_fault(fake, fault, seen, lambda status: self._error(status, "Server Error", headers)):
            return
        if fault in ("429", "429-bare"):
            seen.status = 429
            wait = {"retry-after": "1"} if fault == "429" else {}
            self._error(429, "Too many requests", {**headers, **wait})
            return
        if fault == "403-secondary":
            seen.status = 403
            self._error(
                403,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                {**headers, "retry-after": "1"},
            )
            return
        if fault == "403-primary" or spent:
            seen.status = 403
            reset = str(int(time.time()) + 1) if fault else headers["x-ratelimit-reset"]
            self._error(
                403,
                "API rate limit exceeded for user ID 1.",
                {**headers, "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
            )
            return
        caller = fake.identify(seen.authorization or "")
        segments = path.strip("/").split("/")
        if not isinstance(caller, Caller):
            seen.status = 401
            self._error(401, caller if isinstance(caller, str) and caller != "expired" else "Bad credentials", headers)
            return
        if caller.kind == "jwt":
            self._app_endpoint(fake, segments, headers, seen)
            return
        if caller.kind == "classic":
            headers["X-OAuth-Scopes"] = fake.scopes
            headers["X-Accepted-OAuth-Scopes"] = ACCEPTED_SCOPES
        ent = fake.enterprise
        if len(segments) >= 2 and segments[0] == "orgs":
            index = orgs.org_index(ent, segments[1])
            if index is None:
                self._not_found(seen, headers)
                return
            if not self._may_read(caller, "organization", segments[1], seen, headers):
                return
            self._org_endpoint(fake, index, segments[2:], path, query, headers, seen)
            return
        if segments[:1] == ["organizations"] and segments[2:] == ["settings", "billing", "ai_credit", "usage"]:
            login = segments[1]
            if orgs.org_index(ent, login) is None:
                self._not_found(seen, headers)
            elif self._may_read(caller, "organization", login, seen, headers):
                self._credit_usage(fake, query, headers, seen, login)
            return
        if (
            len(segments) >= 4
            and segments[0] == "enterprises"
            and segments[1] == ent.slug
            and segments[2] == "settings"
        ):
            if self._may_read(caller, "enterprise", segments[1], seen, headers):
                self._enterprise_billing(fake, segments[3:], query, headers, seen)
            return
        if len(segments) < 3 or segments[0] != "enterprises" or segments[2] != "copilot" or segments[1] != ent.slug:
            self._not_found(seen, headers)
            return
        if not self._may_read(caller, "enterprise", segments[1], seen, headers):
            return
        rest = segments[3:]
        replaced = fake.api_bodies.get("/".join(rest))
        if replaced is not None:
            seen.status = 200
            self._send(200, replaced[1], {**headers, "Content-Type": replaced[0]})
            return
        if rest == ["billing", "seats"]:
            if fake.redirect_seats_to:
                seen.status = 302
                self._send(302, b"", {**headers, "Location": fake.redirect_seats_to + path})
                return
            self._seats(fake, path, query, headers, seen, ent.seats)
        elif len(rest) == 3 and rest[:2] == ["metrics", "reports"] and rest[2] in ENTERPRISE_REPORTS:
            self._report(fake, rest[2], query, headers, seen, no_data=404 if rest[2] != "repos-1-day" else 204)
        else:  # includes the legacy /copilot/metrics, closed down on 2026-04-02
            self._not_found(seen, headers)

    def _not_found(self, seen: Seen, headers: dict[str, str]) -> None:
        seen.status = 404
        self._error(404, "Not Found", headers)

    def _may_read(self, caller: Caller, kind: str, account: str, seen: Seen, headers: dict[str, str]) -> bool:
        """GitHub's rules per kind of credential; answers the refusal itself when it may not."""
        fake = self.server.fake
        refusal = ""
        if caller.kind == "classic":
            granted = {s.strip() for s in fake.scopes.split(",")}
            accepted = {s.strip() for s in ACCEPTED_SCOPES.split(",")} | (
                {"read:org"} if kind == "organization" else set()
            )
            if not granted & accepted:
                refusal = "Resource not accessible by personal access token"
        elif caller.kind == "fine-grained" and kind == "enterprise":
            refusal = "Resource not accessible by personal access token"
        elif caller.kind == "installation":
            installation = caller.installation
            assert installation is not None
            if installation.kind != kind or installation.account.lower() != account.lower():
                refusal = "Resource not accessible by integration"
        if refusal:
            seen.status = 403
            self._error(403, refusal, headers)
            return False
        return True

    def _app_endpoint(self, fake: FakeGitHub, segments: list[str], headers: dict[str, str], seen: Seen) -> None:
        """What an App's JWT may ask: its installations, and a token for one of them."""
        app = fake.app
        assert app is not None
        found = None
        if segments[:2] == ["app", "installations"] and len(segments) >= 3 and segments[2].isdigit():
            found = app.installation(int(segments[2]))
            if len(segments) == 4 and segments[3] == "access_tokens" and self.command == "POST" and found:
                token, expires = app.issue(found)
                moment = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                seen.status = 201
                self._json(201, {"token": token, "expires_at": moment, "permissions": {}}, headers)
                return
            if len(segments) != 3:
                found = None
        elif len(segments) == 3 and segments[2] == "installation" and segments[0] in ("orgs", "enterprises"):
            kind = "organization" if segments[0] == "orgs" else "enterprise"
            found = app.installation_on(kind, segments[1])
        if found is None:
            self._not_found(seen, headers)
            return
        account = {"login": found.account, "slug": found.account}
        target = "Organization" if found.kind == "organization" else "Enterprise"
        seen.status = 200
        self._json(200, {"id": found.id, "account": account, "target_type": target, "app_id": app.app_id}, headers)

    def _credit_usage(
        self, fake: FakeGitHub, query: dict[str, str], headers: dict[str, str], seen: Seen, org: str | None = None
    ) -> None:
        try:
            day = date(int(query["year"]), int(query["month"]), int(query["day"]))
        except (KeyError, ValueError):
            seen.status = 400
            self._error(400, "year, month and day are required by this fake", headers)
            return
        seen.status = 200
        self._json(200, billing.usage_body(fake.enterprise, day, organization=org), headers)

    def _enterprise_billing(
        self, fake: FakeGitHub, rest: list[str], query: dict[str, str], headers: dict[str, str], seen: Seen
    ) -> None:
        """AI-credit usage, and the usage report exports' lifecycle: 409 while another one runs,
        processing for `export_polls` polls, then completed with signed download links."""
        if rest == ["billing", "ai_credit", "usage"]:
            self._credit_usage(fake, query, headers, seen)
            return
        if rest == ["billing", "reports"] and self.command == "POST":
            request = getattr(self, "posted", None) or {}
            with fake._lock:
                busy = fake.export_busy > 0
                fake.export_busy = max(0, fake.export_busy - 1)
                export_id = f"{len(fake.exports) + 1:08d}-e5f6-7890-abcd-ef1234567890"
                if not busy:
                    fake.exports[export_id] = [request["start_date"], request["end_date"], fake.export_polls]
            if busy:
                seen.status = 409
                self._error(409, "Another usage report export is already in progress.", headers)
                return
            seen.status = 202
            self._json(202, self._export_body(fake, export_id, advance=False), headers)
            return
        if len(rest) == 3 and rest[:2] == ["billing", "reports"] and rest[2] in fake.exports:
            seen.status = 200
            self._json(200, self._export_body(fake, rest[2], advance=True), headers)
            return
        self._not_found(seen, headers)

    def _export_body(self, fake: FakeGitHub, export_id: str, advance: bool) -> dict[str, Any]:
        with fake._lock:
            export = fake.exports[export_id]
            if advance and export[2] > 0:
                export[2] -= 1
            done = export[2] == 0
        body: dict[str, Any] = {
            "id": export_id,
            "report_type": "ai_credit",
            "start_date": export[0],
            "end_date": export[1],
            "status": "completed" if done else "processing",
            "created_at": "2026-06-01T00:00:00Z",
            "actor": "octo-admin",
        }
        if done:
            expires = int(time.time() + fake.link_ttl)
            file_path = f"/exports/{export_id}/0.csv"
            signature = fake.sign(file_path, expires)
            body["download_urls"] = [f"{fake.files_url}{file_path}?{urlencode({'expires': expires, 'sig': signature})}"]
        return body

    def _org_endpoint(
        self,
        fake: FakeGitHub,
        index: int,
        rest: list[str],
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        seen: Seen,
    ) -> None:
        ent = fake.enterprise
        as_of = fake.today or datetime.now(timezone.utc).date()
        if rest == []:
            seen.status = 200
            self._json(200, orgs.org_profile(ent, index), headers)
        elif rest == ["copilot", "billing"]:
            seen.status = 200
            self._json(200, orgs.org_billing(ent, index, as_of), headers)
        elif rest == ["copilot", "billing", "seats"]:
            self._seats(fake, path, query, headers, seen, lambda day: orgs.org_seats(ent, index, day))
        elif len(rest) == 4 and rest[:3] == ["copilot", "metrics", "reports"] and rest[3] in ORGANIZATION_REPORTS:
            login = orgs.org_login(index)
            if login in fake.org_policy_off:
                seen.status = 403
                self._error(403, "The 'Copilot usage metrics' policy must be enabled to use this API", headers)
                return
            self._report(fake, f"orgs/{login}/{rest[3]}", query, headers, seen, no_data=204)
        else:
            self._not_found(seen, headers)

    def _seats(
        self,
        fake: FakeGitHub,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        seen: Seen,
        listed: Callable[[date], list[dict[str, Any]]],
    ) -> None:
        per_page = max(1, min(100, int(query.get("per_page", "50"))))
        page = max(1, int(query.get("page", "1")))
        ent = fake.enterprise
        with fake._lock:
            seats = listed(fake.today or datetime.now(timezone.utc).date())
            empty = fake.empty_seat_pages.get(page, 0)
            if empty:
                fake.empty_seat_pages[page] = empty - 1
            # the list changes now: the next request (sent once this answer arrives) sees it
            ent.removed_seats |= fake.unassign_after_seat_page.pop(page, set())
        last = max(1, -(-len(seats) // per_page))
        body = {
            "total_seats": len({s["assignee"]["id"] for s in seats}),
            "seats": [] if empty else seats[(page - 1) * per_page : page * per_page],
        }

        def link(n: int) -> str:
            return f"{fake.api_url}{path}?{urlencode({'per_page': per_page, 'page': n})}"

        if fake.seat_links is not None:
            rels = [f'<{link(n)}>; rel="{rel}"' for rel, n in fake.seat_links(page, last).items()]
        else:
            rels = []
            if page < last:
                rels += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
            if page > 1:
                rels += [f'<{link(1)}>; rel="first"', f'<{link(page - 1)}>; rel="prev"']
        if rels:
            headers["Link"] = ", ".join(rels)
        seen.status = 200
        self._json(200, body, headers)

    def _report(
        self,
        fake: FakeGitHub,
        report: str,
        query: dict[str, str],
        headers: dict[str, str],
        seen: Seen,
        no_data: int,
    ) -> None:
        """A report day's links; `report` is its key (see `FakeGitHub.report_lines`)."""
        if not fake.metrics_enabled:
            seen.status = 403
            self._error(403, "Copilot usage metrics are disabled for this enterprise.", headers)
            return
        try:
            day = date.fromisoformat(query.get("day", ""))
        except ValueError:
            seen.status = 422
            self._error(422, "Invalid request. 'day' must be a date in YYYY-MM-DD format.", headers)
            return
        if not fake.enterprise.is_available(day) or (no_data == 204 and not fake.report_lines(report, day)):
            seen.status = no_data
            if no_data == 204:
                self._send(204, b"", headers)
            else:
                self._error(404, "Not Found", headers)
            return
        expires = int(time.time() + fake.link_ttl)
        links = []
        for index in fake.link_overrides.get((report, day), range(fake.file_count(report, day))):
            file_path = f"/files/{report}/{day}/{index}.ndjson"
            signature = fake.sign(file_path, expires)
            links.append(f"{fake.files_url}{file_path}?{urlencode({'expires': expires, 'sig': signature})}")
        seen.status = 200
        report_day = fake.report_day_overrides.get((report, day), day.isoformat())
        self._json(200, {"download_links": links, "report_day": report_day}, headers)

    # ---- the file host --------------------------------------------------------------------
    def _export_file(self, fake: FakeGitHub, segments: list[str], seen: Seen) -> None:
        export = fake.exports.get(segments[1]) if len(segments) == 3 else None
        with fake._lock:
            expired = fake.export_downloads_expired > 0
            fake.export_downloads_expired = max(0, fake.export_downloads_expired - 1)
        if expired or export is None:
            seen.status = 403 if expired else 404
            self._send(
                seen.status, b"<Error><Code>AuthenticationFailed</Code></Error>", {"Content-Type": "application/xml"}
            )
            return
        body = billing.export_csv(fake.enterprise, date.fromisoformat(export[0]), date.fromisoformat(export[1]))
        seen.status = 200
        self._send(200, body, {"Content-Type": "text/csv"})

    def _file(self, fake: FakeGitHub, path: str, query: dict[str, str], seen: Seen) -> None:
        fault = fake._fault(fake.faults.files, fake.faults.files_next, seen)
        segments = path.strip("/").split("/")
        expires = int(query.get("expires", "0") or 0)
        valid = hmac.compare_digest(fake.sign(path, expires), query.get("sig", ""))
        if fault == "expire" or not valid or time.time() > expires:
            seen.status = 403
            body = (
                b'<?xml version="1.0"?><Error><Code>AuthenticationFailed</Code>'
                b"<Message>Signature expired or invalid.</Message></Error>"
            )
            self._send(403, body, {"Content-Type": "application/xml"})
            return

        def server_error(status: int) -> None:
            self._send(status, b"server error", {"Content-Type": "text/plain"})

        if self._transport_fault(fake, fault, seen, server_error):
            return
        if segments[0] == "exports":
            self._export_file(fake, segments, seen)
            return
        found: bytes | int | None = None
        try:
            report = "/".join(segments[1:-2])
            day, index = date.fromisoformat(segments[-2]), int(segments[-1].split(".")[0])
            found = fake.file_overrides.get((report, day, index))
            if found is None:
                found = fake.file_bytes(report, day, index)
        except (IndexError, ValueError, KeyError):
            found = None
        if isinstance(found, int):
            seen.status = found
            self._send(found, b"overridden", {"Content-Type": "text/plain"})
            return
        if found is None:
            seen.status = 404
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        body = found
        headers = {"Content-Type": "application/x-ndjson"}
        if fake.file_encoding == "gzip-header":
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        elif fake.file_encoding == "gzip-body":
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Type"] = "application/gzip"
        seen.status = 200
        if fault in ("truncate", "stall") and len(body) > 2:
            # announce the whole file, send half of it, then hang up (or fall silent first)
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if fault == "stall":
                self._hang(fake)
            else:
                self._reset_connection()
            return
        if fault == "truncate-clean" and len(body) > 2:
            # a short file that looks complete to HTTP, ending inside a line
            cut = len(body) // 2
            while cut > 1 and b"\n" in body[cut - 1 : cut + 1]:
                cut -= 1
            body = body[:cut]
        self._send(200, body, headers)
