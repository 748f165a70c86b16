"""`pipelines/check.py`: one verdict per endpoint, the same failure codes as loads, nothing loaded."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.demo.fake_github.server import ACCEPTED_SCOPES
from copilot_source.ops.check import run_check
from tests.conftest import NEWEST, TODAY, TOKEN, small_enterprise
from tests.failure_modes import FAILURES, tiny_enterprise
from tests.scripts import check, fake_env

REPORTS = ("enterprise-1-day", "users-1-day", "user-teams-1-day", "repos-1-day")
# what the check must say per endpoint: seats, then each report
EXPECTED = {
    "invalid_credentials": ("FAIL invalid_credentials", *["SKIP"] * 4),
    "invalid_permissions": ("FAIL invalid_permissions", *["FAIL invalid_permissions"] * 4),
    "no_resource": ("FAIL no_resource", *["FAIL no_resource"] * 4),
    "metrics_disabled": ("OK", *["FAIL metrics_disabled"] * 4),
    "rate_limited": ("FAIL rate_limited", *["SKIP"] * 4),
    "unreachable": ("FAIL unreachable", *["SKIP"] * 4),
}


def verdicts(stdout: str) -> dict[str, str]:
    """endpoint -> 'OK' / 'SKIP' / 'FAIL <code>' from the check's lines."""
    found = {}
    for line in stdout.splitlines():
        names = "credentials|seats|enterprise-1-day|users-1-day|user-teams-1-day|repos-1-day|legacy metrics"
        match = re.match(rf"^({names})\s+(OK|FAIL|SKIP|INFO)\s+(\w+)?", line)
        if match:
            name, status, first_word = match.groups()
            found[name] = f"{status} {first_word}" if status == "FAIL" else status
    return found


def line_of(stdout: str, name: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(name + " "))


def request_ids(fake: FakeGitHub, status: int) -> list[str]:
    """The ids the fake gave its API answers with `status` (it numbers them in arrival order)."""
    return [f"FAKE:{n:06X}" for n, seen in enumerate(fake.calls("api"), start=1) if seen.status == status]


def test_a_working_setup_passes_every_check(isolated_dlt: Path) -> None:
    with FakeGitHub(small_enterprise(), token=TOKEN, today=TODAY) as fake:
        result = check(isolated_dlt, fake_env(fake), "--legacy")
        seat_calls = fake.calls("api", "/billing/seats")
        report_days = {r: [s.query["day"] for s in fake.calls("api", f"/reports/{r}")] for r in REPORTS}
        files = fake.calls("files")
        files_per_report = {r: fake.file_count(r, NEWEST) for r in REPORTS}
        people = len({seat["assignee"]["id"] for seat in fake.enterprise.seats(TODAY)})

    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts(result.stdout) == {
        "credentials": "INFO",
        "seats": "OK",
        **{report: "OK" for report in REPORTS},
        "legacy metrics": "INFO",
    }
    assert "a classic personal access token" in line_of(result.stdout, "credentials")
    assert f"{people} people hold a Copilot seat" in line_of(result.stdout, "seats")
    # one page of seats, and the newest day GitHub has (today-3; today-2 is not there yet)
    assert [(s.query.get("per_page"), s.query.get("page")) for s in seat_calls] == [("1", None)]
    # the first report finds the newest day with data; the others ask it first
    assert report_days == {
        "enterprise-1-day": [str(TODAY - timedelta(days=2)), str(NEWEST)],
        **{report: [str(NEWEST)] for report in REPORTS[1:]},
    }
    for report in REPORTS:
        files_text = "1 file;" if files_per_report[report] == 1 else f"{files_per_report[report]} files;"
        assert f"report for {NEWEST}: {files_text}" in line_of(result.stdout, report)
    # the first file of each report is fetched from the file host, without the token
    assert len(files) == len(REPORTS)
    assert {s.authorization for s in files} == {None}
    legacy = line_of(result.stdout, "legacy metrics")
    assert "404" in legacy
    assert "2026-04-02" in legacy
    assert "enterprise-1-day" in legacy
    assert result.stdout.strip().endswith("All 5 checks passed.")
    # the check loads nothing
    assert not list(isolated_dlt.rglob("*.duckdb"))


@pytest.mark.parametrize("code", list(FAILURES))
def test_each_failure_gets_its_code_request_id_and_docs(isolated_dlt: Path, code: str) -> None:
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake:
        env = fake_env(fake, **FAILURES[code](fake))
        started = time.time()
        result = check(isolated_dlt, env)
        answers = [(n, seen.status) for n, seen in enumerate(fake.calls("api"), start=1)]

    assert result.returncode == 1, result.stdout
    # stderr holds only the retries of a refused connection, logged as they happened (4 of 5 attempts)
    retries = result.stderr.strip().splitlines()
    assert len(retries) == (4 if code == "unreachable" else 0), result.stderr
    assert all("the connection was refused; retrying in" in line for line in retries)
    said = verdicts(result.stdout)
    assert (said["seats"], *(said[report] for report in REPORTS)) == EXPECTED[code]
    failed = [line for line in result.stdout.splitlines() if re.match(r"^\S+(-\S+)*\s+FAIL ", line)]
    assert failed
    # the refusals the fake sent, in order, are the request ids the failure lines quote
    refusals = [f"FAKE:{n:06X}" for n, status in answers if status != 200]
    if code == "unreachable":
        assert refusals == []
        assert all("GitHub request id: none" in line for line in failed)
        assert "Could not reach 127.0.0.1" in failed[0]
        assert "refused" in failed[0]
    else:
        assert [re.search(r"GitHub request id: (\S+)\.", line).group(1) for line in failed] == refusals
    for line in failed:
        assert f"FAIL {code}: " in line
        assert " Fix: " in line
        assert re.search(r" Docs: https://docs\.github\.com/\S+$", line)
    if code == "invalid_permissions":
        assert "[repo, read:org]" in failed[0]
        assert f"[{ACCEPTED_SCOPES}]" in failed[0]
        assert "classic" in failed[0]
        assert "fine-grained tokens cannot read enterprise endpoints" in failed[0]
    if code == "rate_limited":
        # the fake's budget resets 900 s after it was spent; the check says when
        reset = int(started + 900)
        shown = re.search(r"resets at (\d\d:\d\d:\d\d) UTC", failed[0]).group(1)
        allowed = {datetime.fromtimestamp(reset + d, timezone.utc).strftime("%H:%M:%S") for d in (-1, 0, 1)}
        assert shown in allowed
    assert result.stdout.strip().endswith(
        "5 of 5 checks did not pass." if code != "metrics_disabled" else "4 of 5 checks did not pass."
    )


def test_no_report_on_any_recent_day_while_seats_answer_is_metrics_disabled(isolated_dlt: Path) -> None:
    # reports stopped a month ago: GitHub answers 404 for every recent day
    enterprise = small_enterprise(
        first_report_day=NEWEST - timedelta(days=60), newest_report_day=NEWEST - timedelta(days=30)
    )
    with FakeGitHub(enterprise, token=TOKEN, today=TODAY) as fake:
        result = check(isolated_dlt, fake_env(fake), "--json")
        asked = [s.query["day"] for s in fake.calls("api", "/reports/users-1-day")]
        last_404 = [s.request_id for s in fake.calls("api", "/reports/users-1-day") if s.status == 404][-1]

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["seats"]["status"] == "ok"
    assert checks["enterprise-1-day"]["code"] == "metrics_disabled"
    users = checks["users-1-day"]
    assert (users["status"], users["code"]) == ("fail", "metrics_disabled")
    assert "Enabled everywhere" in users["fix"]
    assert users["request_id"] == last_404
    assert users["docs_url"].startswith("https://docs.github.com/")
    # a week of the most recent days that could have a report
    assert asked == [str(TODAY - timedelta(days=n)) for n in range(2, 9)]


def test_json_output_has_one_entry_per_endpoint(isolated_dlt: Path) -> None:
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake:
        fake.metrics_enabled = False
        result = check(isolated_dlt, fake_env(fake), "--json", "--legacy")
        refused = request_ids(fake, 403)

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["accounts"] == [f"enterprise {tiny_enterprise().slug!r}"]
    assert [(c["name"], c["status"], c["code"]) for c in report["checks"]] == [
        ("credentials", "info", None),
        ("seats", "ok", None),
        *((report, "fail", "metrics_disabled") for report in REPORTS),
        ("ai credits", "info", None),
        ("legacy metrics", "info", None),
    ]
    assert [c["request_id"] for c in report["checks"][2:6]] == refused
    assert all(c["cause"] and c["fix"] and c["docs_url"] for c in report["checks"][2:6])


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"enterprise": None}, "enterprise"),
        ({"access_token": None}, "access_token"),
        ({"start_date": "last monday"}, "start_date"),
        ({"start_date": "2025-10-09"}, "start_date"),
        ({"base_url": "http://api.github.com"}, "base_url"),
        ({"concurrency": "lots"}, "concurrency"),
    ],
)
def test_bad_config_fails_the_check_before_any_request(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str | None], key: str
) -> None:
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake:
        for name, value in fake_env(fake, **overrides).items():
            monkeypatch.setenv(name, value)
        report = run_check(legacy=True)
        assert fake.seen == []
    assert not report.ok
    [only] = report.results  # the configuration's, and nothing asked
    assert only.error is not None
    assert only.error.code == "invalid_config"
    assert f"`{key}` under [sources.copilot] (env SOURCES__COPILOT__{key.upper()})" in only.line()


def test_a_file_host_that_refuses_the_download_fails_the_report_check(isolated_dlt: Path) -> None:
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake:
        fake.faults.files = {"expire": 1.0}  # the file host answers 403 to every signed link
        result = check(isolated_dlt, fake_env(fake))
        link_ids = [f"FAKE:{n:06X}" for n, seen in enumerate(fake.calls("api"), start=1) if seen.status == 200]
        file_host = fake.files_url.split("://")[1].split(":")[0]

    assert result.returncode == 1
    said = verdicts(result.stdout)
    assert said == {"credentials": "INFO", "seats": "OK", **{report: "FAIL unreachable" for report in REPORTS}}
    for report, link_id in zip(REPORTS, link_ids[1:], strict=True):
        line = line_of(result.stdout, report)
        assert f"its file host {file_host} answered 403" in line
        assert f"GitHub request id: {link_id}." in line
