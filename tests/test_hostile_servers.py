"""Hostile servers cannot hang a run, fill a disk, or lure the token or a download anywhere.

Real loopback servers (TLS where the case needs it) stand between the source and the fake
GitHub: they relay its answers, or misbehave on purpose. Each row of a table says what the
server does, the error code the run must end with (or success), and what must not happen: the
token on the wire to anyone but the API host, more bytes on disk than the cap, more seconds
than the deadline needs, a second attempt at what no retry can fix, anything loaded.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest

from copilot_source import copilot_source, find_source_error
from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.github.transport import PeerRefused, RetryingClient, transfer
from tests.conftest import NEWEST, TODAY, TOKEN, make_pipeline, report_lines, rows, small_enterprise, source_for
from tests.hostile import (
    Behaviour,
    DiskWatch,
    Exchange,
    HostileServer,
    Wire,
    answer,
    endless,
    gzip_members,
    moved_to,
    redirect,
    relay,
    self_signed_certificate,
    trickle,
)

USERS = "users-1-day"
CAP = 200_000
LINE_CAP = 50_000
DEADLINE = 2
# the caps and deadlines of these tests: small, so a hostile case takes seconds
SMALL = dict(max_download_bytes=CAP, max_line_bytes=LINE_CAP, download_deadline=DEADLINE, api_deadline=DEADLINE)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The test certificate, trusted by requests (dlt's sessions honour REQUESTS_CA_BUNDLE)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    return certificate


@dataclass
class Scene:
    """The fake GitHub behind hostile servers: `api` (the configured base_url) relays the API and
    points download links at `files`; `relay` serves files honestly; `elsewhere` only listens."""

    fake: FakeGitHub
    wire: Wire
    api: HostileServer
    files: HostileServer
    relay: HostileServer
    elsewhere: HostileServer
    day: date = field(default=NEWEST)
    # path of a file -> what the file host does instead of serving it
    chosen: dict[str, Behaviour] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """The file the hostile behaviours play with: the first file of the first day."""
        return f"/files/{USERS}/{self.day}/0.ndjson"

    def body(self) -> bytes:
        data = self.fake.file_bytes(USERS, self.day, 0)
        assert data
        return data

    def label(self) -> str:
        return f"{USERS} report for {self.day}, file 1 of {self.fake.file_count(USERS, self.day)}"


def honest_api(scene: Scene) -> Behaviour:
    """The API as GitHub answers it, its download links pointing at the hostile file host."""
    return relay(scene.fake.api_url, rewrite_download=lambda url: moved_to(scene.files.url, url))


@pytest.fixture
def scene(tls: tuple[Path, Path]) -> Iterator[Scene]:
    enterprise = small_enterprise(
        user_count=8, org_count=2, first_report_day=NEWEST - timedelta(days=1), files_per_report=1
    )
    wire = Wire()
    with FakeGitHub(enterprise, token=TOKEN, today=TODAY) as fake:
        honest_files = relay(fake.files_url)
        chosen: dict[str, Behaviour] = {}

        def files(exchange: Exchange) -> None:
            chosen.get(exchange.path.split("?")[0], honest_files)(exchange)

        with (
            HostileServer("files", "127.0.0.3", files, wire, tls) as files_host,
            HostileServer("relay", "127.0.0.5", honest_files, wire, tls) as relay_host,
            HostileServer("elsewhere", "127.0.0.4", answer(200, b"{}"), wire) as elsewhere,
            HostileServer("api", "127.0.0.1", answer(500, b""), wire) as api,
        ):
            scene = Scene(fake, wire, api, files_host, relay_host, elsewhere, enterprise.report_days()[0], chosen)
            api.behaviour = honest_api(scene)
            yield scene


def play(scene: Scene, behaviour: Behaviour) -> None:
    scene.chosen[scene.target] = behaviour


@dataclass
class Row:
    """What the file host does with the target file, and what the run must make of it."""

    behaviour: Callable[[Scene], Behaviour]
    # the failure code, or None: the load succeeds with exactly what GitHub served
    code: str | None
    says: tuple[str, ...] = ()
    # requests for the target file: 1 where no retry can help
    attempts: int = 1
    settings: dict[str, Any] = field(default_factory=dict)


def members(scene: Scene, encoded: bool) -> Behaviour:
    lines = scene.body().splitlines(keepends=True)
    half = len(lines) // 2
    body = gzip_members(b"".join(lines[:half]), b"".join(lines[half:]))
    return answer(200, body, [("Content-Encoding", "gzip")] if encoded else [])


SLOW_FILE = ("within 2 s", "`download_deadline`")
ROWS: dict[str, Row] = {
    "gzip-bomb-with-content-encoding": Row(
        lambda s: answer(200, gzip.compress(b"\n" * 30_000_000), [("Content-Encoding", "gzip")]),
        "bad_report_data",
        ("larger than 200000 bytes (inflated)", "`max_download_bytes`"),
    ),
    "gzip-bomb-as-the-body": Row(
        lambda s: answer(200, gzip.compress(b"{}\n" * 10_000_000)),
        "bad_report_data",
        ("larger than 200000 bytes (inflated)", "`max_download_bytes`"),
    ),
    "endless-body": Row(
        lambda s: endless(b'{"user_id": 1}\n' * 1000),
        "bad_report_data",
        ("larger than 200000 bytes (received)", "`max_download_bytes`"),
        settings={"download_deadline": 600},
    ),
    "endless-line": Row(
        lambda s: endless(b"x" * 10_000),
        "bad_report_data",
        ("has a line longer than 50000 bytes", "`max_line_bytes`"),
        settings={"download_deadline": 600, "max_download_bytes": 10**9},
    ),
    "announces-more-than-the-cap": Row(
        lambda s: endless(b"", [("Content-Length", str(10**10))]),
        "bad_report_data",
        ("larger than 200000 bytes (received)",),
    ),
    "trickled-body": Row(
        lambda s: trickle(0.1, in_headers=False), "unreachable", ("within 2 s", "`download_deadline`")
    ),
    "trickled-headers": Row(
        lambda s: trickle(0.1, in_headers=True), "unreachable", ("within 2 s", "`download_deadline`")
    ),
    "redirect-to-plain-http": Row(
        lambda s: redirect(lambda e: moved_to(s.elsewhere.url, e.path)),
        "unreachable",
        ("was redirected to http://127.0.0.4", "leaves https for plain http://", "It was not followed"),
    ),
    "redirect-to-cloud-metadata": Row(
        lambda s: redirect(lambda e: "https://169.254.169.254/latest/meta-data/iam/security-credentials/"),
        "unreachable",
        ("169.254.169.254 is a link-local or cloud metadata address",),
    ),
    "redirect-to-metadata-by-name": Row(
        lambda s: redirect(lambda e: "https://metadata.google.internal/computeMetadata/v1/"),
        "unreachable",
        ("metadata.google.internal is a cloud metadata host",),
    ),
    "redirect-to-the-api-host": Row(
        # the API host by any scheme or port: file requests never go there (nor anything of theirs)
        lambda s: redirect(lambda e: "https://127.0.0.1/enterprises/octo-demo/copilot/billing/seats"),
        "unreachable",
        ("it points at the API host 127.0.0.1",),
    ),
    "redirect-with-a-backslash": Row(
        lambda s: redirect(lambda e: f"https://127.0.0.4:1\\@127.0.0.5{e.path}"),
        "unreachable",
        ("it contains a backslash",),
    ),
    "redirect-loop": Row(
        lambda s: redirect(lambda e: s.files.url + e.path),
        "unreachable",
        ("more than 5 redirects",),
        attempts=6,
    ),
    "redirects-within-https": Row(lambda s: redirect(lambda e: moved_to(s.relay.url, e.path), status=307), None),
    "gzip-members-as-the-body": Row(lambda s: members(s, encoded=False), None),
    "gzip-members-with-content-encoding": Row(lambda s: members(s, encoded=True), None),
    "gzip-with-zero-padding": Row(lambda s: answer(200, gzip.compress(s.body()) + b"\0" * 100), None),
    "gzip-then-garbage": Row(
        lambda s: answer(200, gzip.compress(s.body()) + b"<html>Service Unavailable</html>"),
        "bad_report_data",
        ("is not a valid gzip body: the gzip data is followed by bytes that are not gzip",),
    ),
    "an-html-page": Row(
        lambda s: answer(200, b"<!doctype html><html>Sign in</html>", [("Content-Type", "text/html")]),
        "bad_report_data",
        ("line 1: the line is not valid JSON",),
        attempts=5,
    ),
    "brotli-nobody-asked-for": Row(
        lambda s: answer(200, s.body(), [("Content-Encoding", "br")]),
        "unreachable",
        ("Content-Encoding 'br', which the source did not ask for",),
    ),
}


def served_bytes(scene: Scene) -> int:
    """Every report file the fake has: the most that honest downloads beside a hostile one add."""
    fake = scene.fake
    return sum(
        len(fake.file_bytes(USERS, day, i))
        for day in fake.enterprise.report_days()
        for i in range(fake.file_count(USERS, day))
    )


def loaded_days(pipeline: dlt.Pipeline) -> Any:
    try:
        return rows(pipeline, "SELECT count(*) FROM users_1_day")[0][0]
    except Exception:
        return None  # no dataset at all


@pytest.mark.parametrize("case", list(ROWS))
def test_a_hostile_file_host(tmp_path: Path, scene: Scene, case: str) -> None:
    row = ROWS[case]
    play(scene, row.behaviour(scene))
    pipeline = make_pipeline(tmp_path)
    settings = {**SMALL, **row.settings}
    source = _source(scene, **settings).with_resources("users_1_day")
    started = time.monotonic()
    failure: BaseException | None = None
    with DiskWatch(Path(pipeline.working_dir) / "copilot_downloads") as disk:
        try:
            pipeline.run(source)
        except Exception as exc:
            failure = exc
    seconds = time.monotonic() - started

    # no file on disk larger than the cap (the day's other, honest files download beside it, and
    # never the whole endless body), never longer than the deadline needs
    assert disk.largest_file <= min(settings["max_download_bytes"], CAP), disk.largest_file
    assert disk.peak <= min(settings["max_download_bytes"], CAP) + served_bytes(scene), disk.peak
    assert seconds < 15 * DEADLINE, seconds
    # the token reached the API host only, and every request there carried it
    for heard in scene.wire.heard:
        assert TOKEN not in json.dumps(heard.headers) + heard.path or heard.server == "api", heard
        assert (heard.authorization is not None) == (heard.server == "api"), heard
    # a refused redirect is not followed: nothing reached the other host
    assert scene.wire.at("elsewhere") == []
    asked = [h for h in scene.wire.at("files") if h.path.split("?")[0] == scene.target]
    assert len(asked) == row.attempts

    served = report_lines(scene.fake, USERS, scene.day)
    if row.code is None:
        assert failure is None, failure
        got = rows(pipeline, f"SELECT count(*), sum(loc_added_sum) FROM users_1_day WHERE day = DATE '{scene.day}'")
        assert got == [(len(served), sum(line["loc_added_sum"] for line in served))]
        return
    error = find_source_error(failure) if failure else None
    assert error is not None, failure
    assert error.code == row.code, error.message
    assert len(error.message.splitlines()) == 1
    for text in row.says:
        assert text in error.message, error.message
    if row.code == "bad_report_data" or "download_deadline" in row.says[-1]:
        assert scene.label() in error.message, error.message
    assert "sig=" not in error.message and "expires=" not in error.message
    # nothing of the run is loaded and no cursor is stored
    assert loaded_days(pipeline) in (None, 0)
    assert "sources" not in pipeline.state


def _source(scene: Scene, **settings: Any) -> Any:
    return copilot_source(
        enterprise=scene.fake.enterprise.slug,
        access_token=TOKEN,
        base_url=scene.api.url,
        start_date=scene.fake.enterprise.first_report_day,
        rate_limit_min_wait=0,
        concurrency=1,
        **settings,
    )


# ---- the API host -------------------------------------------------------------------------
def report_answer(
    body: bytes, content_type: str = "application/json", status: int = 200
) -> Callable[[Scene], Behaviour]:
    """The API answers the users report of `scene.day` with `body`."""

    def build(scene: Scene) -> Behaviour:
        honest = honest_api(scene)

        def behave(exchange: Exchange) -> None:
            if f"/reports/{USERS}?day={scene.day}" in exchange.path:
                exchange.answer(status, body, [("Content-Type", content_type)])
            else:
                honest(exchange)

        return behave

    return build


def slow_report(in_headers: bool) -> Callable[[Scene], Behaviour]:
    def build(scene: Scene) -> Behaviour:
        honest = relay(scene.fake.api_url)
        slow = trickle(0.1, in_headers=in_headers)
        # the day with a report trickles (a first run asks the newer days first: they have none)
        return lambda e: (slow if f"/reports/{USERS}?day={scene.day}" in e.path else honest)(e)

    return build


API_ROWS: dict[str, tuple[Callable[[Scene], Behaviour], str, tuple[str, ...]]] = {
    "an-html-page": (
        report_answer(b"<html><body>Proxy login</body></html>", "text/html"),
        "unreachable",
        ("an HTML or XML page", "instead of a JSON object"),
    ),
    "an-empty-body": (report_answer(b""), "unreachable", ("an empty body instead of a JSON object",)),
    "a-json-array": (report_answer(b"[]"), "unreachable", ("a JSON array instead of a JSON object",)),
    "a-json-number": (report_answer(b"42"), "unreachable", ("a JSON number instead of a JSON object",)),
    "trickled-answer": (slow_report(in_headers=False), "unreachable", ("within 2 s", "`api_deadline`")),
    "trickled-headers": (slow_report(in_headers=True), "unreachable", ("within 2 s", "`api_deadline`")),
}


@pytest.mark.parametrize("case", list(API_ROWS))
def test_a_hostile_api_answer(tmp_path: Path, scene: Scene, case: str) -> None:
    build, code, says = API_ROWS[case]
    scene.api.behaviour = build(scene)
    pipeline = make_pipeline(tmp_path)
    started = time.monotonic()
    with pytest.raises(Exception) as failure:
        pipeline.run(_source(scene, **SMALL).with_resources("users_1_day"))
    assert time.monotonic() - started < 15 * DEADLINE
    error = find_source_error(failure.value)
    assert error is not None, failure.value
    assert error.code == code, error.message
    for text in says:
        assert text in error.message, error.message
    assert f"the {USERS} report for {scene.day}" in error.message
    # an answer that is not a report is asked for once: no retry can make it one
    assert len([h for h in scene.wire.at("api") if f"/reports/{USERS}?day={scene.day}" in h.path]) == 1
    assert loaded_days(pipeline) in (None, 0)
    assert "sources" not in pipeline.state


@pytest.mark.parametrize(
    ("status", "body"), [(200, b'"Report is being generated"'), (204, b"")], ids=["a-bare-string", "no-content"]
)
def test_a_report_still_being_generated_is_not_yet_available(
    tmp_path: Path, scene: Scene, status: int, body: bytes
) -> None:
    """GitHub's bare string answer ("Report is being generated") and 204 are days without a report yet."""
    newest = scene.fake.enterprise.report_days()[-1]
    scene.day = newest
    scene.api.behaviour = report_answer(body, status=status)(scene)
    pipeline = make_pipeline(tmp_path)
    pipeline.run(_source(scene).with_resources("users_1_day"))
    first = scene.fake.enterprise.report_days()[0]
    assert rows(pipeline, "SELECT day, count(*) FROM users_1_day GROUP BY day") == [
        (first, len(report_lines(scene.fake, USERS, first)))
    ]
    metrics = pipeline.last_trace.last_extract_info.metrics
    custom = [
        r.custom_metrics
        for step in metrics.values()
        for m in step
        for name, r in m["resource_metrics"].items()
        if name == "users_1_day"
    ]
    # that day, and the days after it that GitHub has no report for yet (404)
    assert custom and custom[0]["days_not_yet_available"] == f"{newest}..{TODAY - timedelta(days=1)}"

    # the report is ready now: the next run loads the day
    scene.api.behaviour = honest_api(scene)
    pipeline.run(_source(scene).with_resources("users_1_day"))
    assert rows(pipeline, f"SELECT count(*) FROM users_1_day WHERE day = DATE '{newest}'") == [
        (len(report_lines(scene.fake, USERS, newest)),)
    ]


# ---- pagination links and the token ---------------------------------------------------------
def with_next_link(scene: Scene, next_url: str) -> Behaviour:
    """The seats' first page gains a `Link: <next_url>; rel="next"`; later pages are the fake's."""
    honest = relay(scene.fake.api_url)

    def behave(exchange: Exchange) -> None:
        if "/billing/seats" in exchange.path and "page=2" not in exchange.path:
            # every seat on the first page, as the fake lists them: the next page adds nobody
            seats = scene.fake.enterprise.seats(scene.fake.today or TODAY)
            people = len({seat["assignee"]["id"] for seat in seats})
            body = json.dumps({"total_seats": people, "seats": seats}).encode()
            exchange.answer(200, body, [("Content-Type", "application/json"), ("Link", f'<{next_url}>; rel="next"')])
        else:
            honest(exchange)

    return behave


SEATS = "/enterprises/octo-demo/copilot/billing/seats?per_page=100&page=2"
# where the seats' next page is said to be ({api}: the TLS API's host:port), and why it is refused
LINKS: dict[str, tuple[str, str | None]] = {
    "the-api-origin": ("https://{api}" + SEATS, None),
    "https-to-http": ("http://{api}" + SEATS, "it points at http://127.0.0.1:"),
    "another-port": ("https://127.0.0.1:{relay_port}" + SEATS, "it points at https://127.0.0.1:"),
    "another-host": ("https://127.0.0.5:{api_port}" + SEATS, "it points at https://127.0.0.5:"),
    "a-backslash-before-userinfo": ("http://127.0.0.4:{elsewhere_port}\\@{api}" + SEATS, "it contains a backslash"),
    "userinfo": ("https://user:secret@{api}" + SEATS, "it holds a user name or password"),
}


@pytest.mark.parametrize("case", list(LINKS))
def test_the_token_follows_only_links_to_the_api_origin(
    tmp_path: Path, scene: Scene, tls: tuple[Path, Path], case: str
) -> None:
    template, refusal = LINKS[case]
    # the API over TLS on loopback: what https://api.github.com is to a real run
    with HostileServer("tls-api", "127.0.0.1", answer(500, b""), scene.wire, tls) as api:
        where = api.url.removeprefix("https://")
        next_url = template.format(
            api=where,
            api_port=api.server_address[1],
            relay_port=scene.relay.server_address[1],
            elsewhere_port=scene.elsewhere.server_address[1],
        )
        api.behaviour = with_next_link(scene, next_url)
        # a plain-http server on the TLS API's very address and port cannot exist; the http
        # variant of the link must simply never be asked (nothing listens there for http)
        pipeline = make_pipeline(tmp_path)
        source = copilot_source(
            enterprise=scene.fake.enterprise.slug, access_token=TOKEN, base_url=api.url, rate_limit_min_wait=0
        ).with_resources("seats")
        if refusal is None:
            pipeline.run(source)
        else:
            with pytest.raises(Exception) as failure:
                pipeline.run(source)
            error = find_source_error(failure.value)
            assert error is not None and error.code == "unreachable", failure.value
            assert refusal in error.message, error.message
            assert "which the token is never sent to" in error.message
            assert "secret" not in error.message
    asked = scene.wire.at("tls-api")
    assert {h.authorization for h in asked} == {f"Bearer {TOKEN}"}
    # page 2 was asked for (with the token) only where the link kept to the API's origin
    assert [h.path for h in asked][1:] == ([SEATS] if refusal is None else [])
    # no other server heard anything
    assert [h for h in scene.wire.heard if h.server != "tls-api"] == []


def test_each_retry_is_logged_as_it_happens(tmp_path: Path, fake: FakeGitHub) -> None:
    """dlt's retrying session retries resets quietly; each retry is now a WARNING, at once."""
    fake.faults.api_next = ["reset", "reset", "503"]
    logged: list[tuple[float, str]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append((time.time(), record.getMessage()))

    handler = Collect(level=logging.WARNING)
    logging.getLogger("dlt").addHandler(handler)
    try:
        make_pipeline(tmp_path).run(source_for(fake).with_resources("seats"))
    finally:
        logging.getLogger("dlt").removeHandler(handler)

    retries = [(at, text) for at, text in logged if "retrying in" in text]
    seats = fake.calls("api", "/billing/seats")
    assert [s.fault for s in seats] == ["reset", "reset", "503", None]
    assert [text.split(": ", 1)[1].split(";")[0] for _, text in retries] == [
        "the connection was dropped",
        "the connection was dropped",
        "it answered 503",
    ]
    where = f"GET {fake.api_url}/enterprises/{fake.enterprise.slug}/copilot/billing/seats:"
    assert all(text.startswith(where) for _, text in retries), retries
    # each warning came between the failed attempt and the next one
    for (at, _), failed, following in zip(retries, seats, seats[1:], strict=False):
        assert failed.received_at <= at <= following.received_at


def test_a_connection_to_a_refused_peer_address_sends_nothing(scene: Scene) -> None:
    """A host name may resolve to a metadata address: the address connected to is checked too."""
    client = RetryingClient(attempt_seconds=5)
    with (
        pytest.raises(PeerRefused, match=r"no requests to 127\.0\.0\.4"),
        transfer(5, check_peer=lambda address: f"no requests to {address}"),
    ):
        client.session.get(f"{scene.elsewhere.url}/latest/meta-data/")
    assert scene.wire.at("elsewhere") == []
    # the same request with no objection to the address arrives
    with transfer(5, check_peer=lambda address: None):
        assert client.session.get(f"{scene.elsewhere.url}/latest/meta-data/").status_code == 200
    assert [h.path for h in scene.wire.at("elsewhere")] == ["/latest/meta-data/"]
