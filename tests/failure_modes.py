"""Ways a configured source can be refused by GitHub (or never reach it), as the fake plays them.

Each entry breaks a running fake (or returns config overrides that break the way to it) and is
keyed by the failure code the source must report.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import timedelta

from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub
from tests.conftest import NEWEST, small_enterprise

WRONG_TOKEN = "ghp_WrongTokenForTheFailureTests00000000"


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def break_token(fake: FakeGitHub) -> dict[str, str]:
    return {"access_token": WRONG_TOKEN}


def drop_scope(fake: FakeGitHub) -> dict[str, str]:
    fake.scopes = "repo, read:org"
    return {}


def wrong_slug(fake: FakeGitHub) -> dict[str, str]:
    return {"enterprise": "octo-missing"}


def disable_metrics(fake: FakeGitHub) -> dict[str, str]:
    fake.metrics_enabled = False
    return {}


def spend_budget(fake: FakeGitHub) -> dict[str, str]:
    fake.set_rate_budget(remaining=0, reset_in=900)
    return {"rate_limit_max_wait": "5"}


def refuse_connections(fake: FakeGitHub) -> dict[str, str]:
    return {"base_url": f"http://127.0.0.1:{closed_port()}"}


# each way GitHub (or the way to it) can refuse a configured source, and the code it must give
FAILURES: dict[str, Callable[[FakeGitHub], dict[str, str]]] = {
    "invalid_credentials": break_token,
    "invalid_permissions": drop_scope,
    "no_resource": wrong_slug,
    "metrics_disabled": disable_metrics,
    "rate_limited": spend_budget,
    "unreachable": refuse_connections,
}


def tiny_enterprise() -> FakeEnterprise:
    """Five days of eight people: a real load in well under a second."""
    return small_enterprise(user_count=8, org_count=2, first_report_day=NEWEST - timedelta(days=4), files_per_report=1)
