"""Every request of a full load, on every host: the token reaches the configured API origin only.

The load runs over TLS, as against api.github.com: an API host that relays the fake GitHub
(seat pages linked with `Link`, report links pointing at a file host), a file host that
redirects some downloads to a second file host. Every server records every request it gets.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from copilot_source import copilot_source
from copilot_source.demo.fake_github import FakeGitHub
from tests.conftest import NEWEST, TODAY, TOKEN, make_pipeline, report_lines, rows, small_enterprise
from tests.hostile import Exchange, HostileServer, Wire, answer, moved_to, redirect, relay, self_signed_certificate


def test_the_token_only_ever_reaches_the_configured_scheme_host_and_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certificate = self_signed_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    # two seat pages (a `Link` to follow), two files per report day
    enterprise = small_enterprise(user_count=130, first_report_day=NEWEST - timedelta(days=2), files_per_report=2)
    wire = Wire()
    with (
        FakeGitHub(enterprise, token=TOKEN, today=TODAY) as fake,
        HostileServer("api", "127.0.0.1", answer(500, b""), wire, certificate) as api,
        HostileServer("files", "127.0.0.3", answer(500, b""), wire, certificate) as files,
        HostileServer("mirror", "127.0.0.5", relay(fake.files_url), wire, certificate) as mirror,
    ):
        api.behaviour = relay(
            fake.api_url,
            rewrite_link=lambda url: moved_to(api.url, url),
            rewrite_download=lambda url: moved_to(files.url, url),
        )
        honest = relay(fake.files_url)
        to_mirror = redirect(lambda e: moved_to(mirror.url, e.path), status=302)

        def first_files_elsewhere(exchange: Exchange) -> None:
            (to_mirror if exchange.path.split("?")[0].endswith("/0.ndjson") else honest)(exchange)

        files.behaviour = first_files_elsewhere
        pipeline = make_pipeline(tmp_path)
        pipeline.run(
            copilot_source(
                enterprise=enterprise.slug,
                access_token=TOKEN,
                base_url=api.url,
                start_date=enterprise.first_report_day,
                rate_limit_min_wait=0,
            ).with_resources("seats", "seat_activity", "enterprise_metrics", "users_1_day")
        )
        direct = {host: len(fake.calls(host)) for host in ("api", "files")}

    # the load is complete: every user line of every day, both seat pages
    days = enterprise.report_days()
    served = sum(len(report_lines(fake, "users-1-day", day)) for day in days)
    assert rows(pipeline, "SELECT count(*) FROM users_1_day") == [(served,)]
    seats_asked = [h.path for h in wire.at("api") if "/billing/seats" in h.path]
    assert any("page=2" in path for path in seats_asked), seats_asked

    # the token went to https://127.0.0.1:<api port> and nowhere else, in no form
    assert {(h.server, h.origin, h.authorization) for h in wire.heard if h.authorization} == {
        ("api", api.url, f"Bearer {TOKEN}")
    }
    assert all(h.authorization == f"Bearer {TOKEN}" for h in wire.at("api"))
    for heard in wire.heard:
        if heard.server != "api":
            assert TOKEN not in json.dumps(heard.headers) + heard.path, heard
    # downloads went where the links and redirects said, and were really redirected
    redirected = [h for h in wire.at("files") if h.path.split("?")[0].endswith("/0.ndjson")]
    assert len(redirected) == len(days) * 2  # first file of each of the two reports, each day
    assert len(wire.at("mirror")) == len(redirected)
    # the client spoke to these servers only: everything the fake got, they had relayed
    assert direct == {
        "api": len(wire.at("api")),
        "files": len(wire.at("files")) - len(redirected) + len(wire.at("mirror")),
    }
