"""Organizations as well as enterprises, many at once: exact per-organization tables, each account
with its own days, one account failing loads nothing, fine-grained tokens and GitHub Apps.

Expected values are the fake's own NDJSON lines and JSON bodies, parsed here with `json`.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from copilot_source import InvalidCredentials, InvalidPermissions, find_source_error
from copilot_source.demo.fake_github import FakeApp, FakeGitHub, Installation, new_private_key
from copilot_source.demo.fake_github import orgs as fake_orgs
from copilot_source.errors import ConfigurationError, MetricsDisabled, NoResource
from tests.compare import source_state
from tests.conftest import NEWEST, TODAY, make_pipeline, rows, scalar
from tests.scripts import fake_env, load

ORGS = ["octo-org-0", "octo-org-1"]
FINE_GRAINED = "github_pat_11FineGrainedTokenForOrgs000000000000000000"


def lines(fake: FakeGitHub, key: str, day: date) -> list[dict[str, Any]]:
    return [json.loads(line) for line in fake.report_lines(key, day)]


def org_source(fake: FakeGitHub, organizations: list[str], **args: Any) -> Any:
    from copilot_source import copilot_source

    settings: dict[str, Any] = dict(
        organizations=organizations,
        access_token=fake.token,
        base_url=fake.api_url,
        start_date=fake.enterprise.first_report_day,
        rate_limit_min_wait=0,
    )
    settings.update(args)
    return copilot_source(**settings)


def expected_org_users(fake: FakeGitHub, login: str) -> list[tuple[str, str, int, int]]:
    """(organization_id, day, user_id, loc_added_sum) of every org users-1-day line served."""
    out = []
    for day in fake.enterprise.report_days():
        for line in lines(fake, f"orgs/{login}/users-1-day", day):
            out.append((line["organization_id"], line["day"], line["user_id"], line["loc_added_sum"]))
    return sorted(out)


def test_two_organizations_and_an_enterprise_load_exact_tables_side_by_side(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path)
    pipeline.run(org_source(fake, ORGS, enterprise=fake.enterprise.slug))

    ent = fake.enterprise
    days = ent.report_days()
    # each organization's users, as its own report lists them (a person in two orgs is in both)
    expected = sorted(row for login in ORGS for row in expected_org_users(fake, login))
    loaded = rows(
        pipeline,
        "SELECT organization_id, strftime(day, '%Y-%m-%d'), user_id, loc_added_sum FROM org_users_1_day ORDER BY ALL",
    )
    assert loaded == expected
    # organization_metrics: one row per organization and day, equal to the org's own record
    metrics = {
        (line["organization_id"], line["day"]): line["daily_active_users"]
        for login in ORGS
        for day in days
        for line in lines(fake, f"orgs/{login}/organization-1-day", day)
    }
    got = rows(
        pipeline, "SELECT organization_id, strftime(day, '%Y-%m-%d'), daily_active_users FROM organization_metrics"
    )
    assert {(o, d): n for o, d, n in got} == metrics
    # array tables carry the organization in their key
    by_ide = sum(
        len(line["totals_by_ide"])
        for login in ORGS
        for day in days
        for line in lines(fake, f"orgs/{login}/users-1-day", day)
    )
    assert scalar(pipeline, "SELECT count(*) FROM org_users_1_day__totals_by_ide") == by_ide
    assert scalar(pipeline, "SELECT count(DISTINCT organization_id) FROM org_users_1_day__totals_by_ide") == 2
    # the enterprise's own tables are as they always were
    enterprise_lines = [json.loads(x) for day in days for x in ent.report_lines("users-1-day", day)]
    assert scalar(pipeline, "SELECT count(*) FROM users_1_day") == len(enterprise_lines)
    assert scalar(pipeline, "SELECT sum(loc_added_sum) FROM users_1_day") == sum(
        x["loc_added_sum"] for x in enterprise_lines
    )
    # organization seats: each organization's list, keyed with its id
    seats = [(str(500 + i), s["assignee"]["id"]) for i in (0, 1) for s in fake_orgs.org_seats(ent, i, TODAY)]
    assert sorted(rows(pipeline, "SELECT organization_id, assignee__id FROM org_seats")) == sorted(seats)
    assert scalar(pipeline, "SELECT count(*) FROM org_seat_activity") == len(seats)
    # the seat summary and policies, one row per organization and day
    billing = {str(500 + i): fake_orgs.org_billing(ent, i, TODAY) for i in (0, 1)}
    got_billing = rows(
        pipeline,
        "SELECT organization_id, organization, seat_breakdown__total, cli, snapshot_day FROM org_copilot_billing",
    )
    assert sorted(got_billing) == sorted(
        (org_id, f"octo-org-{int(org_id) - 500}", b["seat_breakdown"]["total"], b["cli"], TODAY)
        for org_id, b in billing.items()
    )
    # each account keeps its own record of days
    state = pipeline.state["sources"]["copilot"]["resources"]["org_users_1_day"]["entities"]
    assert sorted(state) == [f"organization:{login}" for login in ORGS]
    assert {record["newest_day"] for record in state.values()} == {str(NEWEST)}


def test_an_organization_added_later_gets_its_history_while_the_others_continue(
    tmp_path: Path, fake: FakeGitHub
) -> None:
    pipeline = make_pipeline(tmp_path)
    pipeline.run(org_source(fake, ORGS[:1], lookback_days=2))
    fake.clear_log()

    pipeline.run(org_source(fake, ORGS, lookback_days=2))

    asked: dict[str, set[str]] = {}
    for seen in fake.calls("api", "/copilot/metrics/reports/users-1-day"):
        asked.setdefault(seen.path.split("/")[2], set()).add(seen.query["day"])
    yesterday = TODAY - timedelta(days=1)
    # the organization already loaded re-reads its lookback window only; the new one its history
    assert asked[ORGS[0]] == {
        str(NEWEST - timedelta(days=n)) for n in range(2, -3, -1) if NEWEST - timedelta(days=n) <= yesterday
    }
    assert min(asked[ORGS[1]]) == str(fake.enterprise.first_report_day)
    loaded = rows(
        pipeline,
        "SELECT organization_id, strftime(day, '%Y-%m-%d'), user_id, loc_added_sum FROM org_users_1_day ORDER BY ALL",
    )
    assert loaded == sorted(row for login in ORGS for row in expected_org_users(fake, login))


@pytest.mark.parametrize(
    ("failing", "error_type", "says"),
    [
        ("octo-org-2", MetricsDisabled, "organization (by its enterprise"),  # its policy is off
        ("octo-org-missing", NoResource, "404"),  # a login GitHub does not know (or hides)
    ],
    ids=["policy-off", "not-found"],
)
def test_one_organization_failing_fails_the_run_naming_it_and_loads_nothing(
    tmp_path: Path, fake: FakeGitHub, failing: str, error_type: type[Exception], says: str
) -> None:
    pipeline = make_pipeline(tmp_path)
    pipeline.run(org_source(fake, ORGS[:1]))
    before = source_state(pipeline)
    counted = scalar(pipeline, "SELECT count(*) FROM org_users_1_day")
    fake.enterprise.newest_report_day = NEWEST  # nothing new for the first organization
    fake.org_policy_off.add("octo-org-2")

    with pytest.raises(Exception) as failure:
        pipeline.run(org_source(fake, [*ORGS[:1], failing]))

    error = find_source_error(failure.value)
    assert isinstance(error, error_type), failure.value
    assert f"organization '{failing}'" in error.message
    assert says in error.message
    # nothing of the run was loaded, and the other organization's record did not move
    assert scalar(pipeline, "SELECT count(*) FROM org_users_1_day") == counted
    assert source_state(make_pipeline(tmp_path)) == before


def test_a_fine_grained_token_reads_organizations_and_is_refused_at_enterprise_scope_before_any_request(
    tmp_path: Path, fake: FakeGitHub
) -> None:
    fake.fine_grained_token = FINE_GRAINED
    with pytest.raises(Exception) as refused:
        org_source(fake, ORGS[:1], enterprise=fake.enterprise.slug, access_token=FINE_GRAINED)
    error = find_source_error(refused.value)
    assert isinstance(error, ConfigurationError)
    assert "fine-grained personal access token, and GitHub refuses those at enterprise scope" in error.cause
    assert "classic personal access token" in error.fix and FINE_GRAINED not in error.message
    assert fake.calls("api") == []

    pipeline = make_pipeline(tmp_path)
    pipeline.run(org_source(fake, ORGS[:1], access_token=FINE_GRAINED))
    assert scalar(pipeline, "SELECT count(*) FROM org_users_1_day") == len(expected_org_users(fake, ORGS[0]))
    assert {s.authorization for s in fake.calls("api")} == {f"Bearer {FINE_GRAINED}"}


def app_fake(fake: FakeGitHub, **options: Any) -> FakeApp:
    app = FakeApp(
        app_id="424242",
        private_key=new_private_key(),
        installations=[
            Installation(11, "enterprise", fake.enterprise.slug),
            Installation(21, "organization", ORGS[0]),
            Installation(22, "organization", ORGS[1]),
        ],
        **options,
    )
    fake.app = app
    return app


def use_app(monkeypatch: pytest.MonkeyPatch, app_id: str, private_key: str, ids: str | None = None) -> None:
    monkeypatch.setenv("SOURCES__COPILOT__GITHUB_APP__APP_ID", app_id)
    monkeypatch.setenv("SOURCES__COPILOT__GITHUB_APP__PRIVATE_KEY", private_key)
    if ids is not None:
        monkeypatch.setenv("SOURCES__COPILOT__GITHUB_APP__INSTALLATION_IDS", ids)


@pytest.mark.parametrize("ids", [None, "[11, 21, 22]"], ids=["found-through-the-api", "configured"])
def test_a_github_app_whose_installation_tokens_expire_mid_run_completes(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, ids: str | None
) -> None:
    # every installation token stops working after 5 requests, long before its stated hour
    app = app_fake(fake, revoke_after=5)
    key_file = tmp_path / "app.pem"
    key_file.write_text(app.private_key)
    use_app(monkeypatch, app.app_id, str(key_file), ids)

    pipeline = make_pipeline(tmp_path)
    pipeline.run(org_source(fake, ORGS, enterprise=fake.enterprise.slug, access_token=None))

    assert scalar(pipeline, "SELECT count(*) FROM org_users_1_day") == sum(
        len(expected_org_users(fake, o)) for o in ORGS
    )
    served = [
        json.loads(x) for day in fake.enterprise.report_days() for x in fake.enterprise.report_lines("users-1-day", day)
    ]
    assert scalar(pipeline, "SELECT count(*) FROM users_1_day") == len(served)
    # tokens were renewed after GitHub refused them, and each account used its own installation
    refused = [s for s in fake.calls("api") if s.status == 401]
    # (requests side by side refused with the same token share the one renewal)
    assert refused and app.issued > 3
    by_account: dict[str, set[str]] = {}
    for seen in fake.calls("api"):
        if seen.path.startswith(("/orgs/", "/enterprises/")) and not seen.path.endswith("/installation"):
            by_account.setdefault(seen.path.split("/")[2], set()).add(str(seen.authorization))
    tokens = [t for account_tokens in by_account.values() for t in account_tokens]
    assert len(tokens) == len(set(tokens))  # no token served two accounts
    # the private key and the tokens are nowhere in the pipeline's state or trace
    stored = json.dumps(pipeline.state, default=str) + (
        Path(pipeline.working_dir) / "trace.pickle"
    ).read_bytes().decode("latin-1")
    assert "PRIVATE KEY" not in stored and "ghs_" not in stored


def test_installation_tokens_are_renewed_before_they_expire_not_after_a_refusal(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GitHub says each token expires 299 s after it is made: inside the source's five-minute margin
    # from the start, so each is renewed before it is used again, and GitHub never refuses one
    app = app_fake(fake, token_ttl=299.0)
    use_app(monkeypatch, app.app_id, app.private_key)

    pipeline = make_pipeline(tmp_path)
    pipeline.run(org_source(fake, ORGS[:1], access_token=None).with_resources("org_users_1_day"))

    assert scalar(pipeline, "SELECT count(*) FROM org_users_1_day") == len(expected_org_users(fake, ORGS[0]))
    assert not [s for s in fake.calls("api") if s.status == 401]
    assert app.issued > 1  # more than one token for the one installation: renewed ahead of time


def test_load_py_runs_with_a_github_app_and_no_token(tmp_path: Path, fake: FakeGitHub) -> None:
    app = app_fake(fake)
    env = fake_env(fake, access_token=None)
    env["SOURCES__COPILOT__ORGANIZATIONS"] = json.dumps(ORGS)
    env["SOURCES__COPILOT__GITHUB_APP__APP_ID"] = app.app_id
    env["SOURCES__COPILOT__GITHUB_APP__PRIVATE_KEY"] = app.private_key

    result = load(tmp_path, env, "--resources", "org_users_1_day", "--no-views")

    assert result.returncode == 0, result.stderr
    assert "demo" not in (result.stdout + result.stderr).lower()
    summary = {parts[0]: parts[1] for parts in (line.split() for line in result.stdout.splitlines()) if len(parts) == 2}
    assert summary["org_users_1_day"] == str(sum(len(expected_org_users(fake, o)) for o in ORGS))
    assert app.issued >= 2 and {s.status for s in fake.calls("api")} <= {200, 201, 204, 404}


def test_a_github_app_with_a_wrong_key_is_invalid_credentials(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_fake(fake)
    use_app(monkeypatch, app.app_id, new_private_key())  # a valid key, but not the App's

    with pytest.raises(Exception) as failure:
        make_pipeline(tmp_path).run(org_source(fake, ORGS[:1], access_token=None))
    error = find_source_error(failure.value)
    assert isinstance(error, InvalidCredentials), failure.value
    assert "GitHub rejected the GitHub App's JWT (401)" in error.cause
    assert "PRIVATE KEY" not in error.message


def test_a_github_app_not_installed_on_an_organization_says_so(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_fake(fake)
    app.installations = app.installations[:2]  # none on octo-org-1
    use_app(monkeypatch, app.app_id, app.private_key)

    with pytest.raises(Exception) as failure:
        make_pipeline(tmp_path).run(org_source(fake, ORGS, access_token=None))
    error = find_source_error(failure.value)
    assert isinstance(error, InvalidPermissions), failure.value
    assert "is not installed on organization 'octo-org-1'" in error.cause


def test_an_app_key_that_is_not_a_key_is_invalid_config(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    use_app(monkeypatch, "424242", "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----")
    with pytest.raises(Exception) as failure:
        org_source(fake, ORGS[:1], access_token=None)
    error = find_source_error(failure.value)
    assert isinstance(error, ConfigurationError)
    assert "is not a PEM private key" in error.cause and "not a key" not in error.message


def test_both_a_token_and_an_app_is_a_configuration_error(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    use_app(monkeypatch, "424242", new_private_key())
    with pytest.raises(Exception) as failure:
        org_source(fake, ORGS[:1])
    error = find_source_error(failure.value)
    assert isinstance(error, ConfigurationError) and "Both" in error.cause


def test_neither_an_enterprise_nor_an_organization_is_a_configuration_error(fake: FakeGitHub) -> None:
    with pytest.raises(Exception) as failure:
        org_source(fake, [])
    error = find_source_error(failure.value)
    assert isinstance(error, ConfigurationError)
    assert "Neither `enterprise`" in error.cause and "`organizations`" in error.cause


def test_organizations_from_an_environment_variable_list(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__COPILOT__ORGANIZATIONS", json.dumps(ORGS))
    from copilot_source import copilot_source

    source = copilot_source(access_token=fake.token, base_url=fake.api_url)
    assert "org_users_1_day" in source.resources and "users_1_day" not in source.resources


def test_the_check_asks_every_account_and_names_the_credentials(
    tmp_path: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from copilot_source.ops.check import run_check
    from tests.scripts import fake_env

    app = app_fake(fake)
    for name, value in fake_env(fake, access_token=None, organizations=json.dumps(ORGS), billing="true").items():
        monkeypatch.setenv(name, value)
    use_app(monkeypatch, app.app_id, app.private_key)

    report = run_check()

    assert report.ok, "\n".join(report.lines())
    assert report.accounts == ("enterprise 'octo-demo'", *(f"organization '{o}'" for o in ORGS))
    lines = report.lines()
    assert lines[1].startswith("credentials") and "GitHub App 424242: one installation token per account" in lines[1]
    # one group of lines per account, each with its seats, reports and AI credits
    for account in report.accounts:
        assert f"{account}:" in lines
    per_account = {a: [r.name for r in report.results if r.account == a] for a in report.accounts}
    assert per_account["enterprise 'octo-demo'"] == [
        "seats",
        "enterprise-1-day",
        "users-1-day",
        "user-teams-1-day",
        "repos-1-day",
        "ai credits",
    ]
    assert per_account[f"organization '{ORGS[0]}'"][:3] == ["seats", "billing", "organization-1-day"]
    # each account was asked with its own installation token
    tokens = {s.path.split("/")[2]: s.authorization for s in fake.calls("api") if "/billing/seats" in s.path}
    assert len(set(tokens.values())) == 3


def test_the_check_names_a_fine_grained_token(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    from copilot_source.ops.check import run_check
    from tests.scripts import fake_env

    fake.fine_grained_token = FINE_GRAINED
    env = fake_env(fake, enterprise=None, access_token=FINE_GRAINED, organizations=json.dumps(ORGS[:1]))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    report = run_check()
    assert report.ok, "\n".join(report.lines())
    assert "a fine-grained personal access token (organization endpoints only)" in report.lines()[1]
