"""The built-in demo: a deterministic fake enterprise, two of its organizations and their AI credits, on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from copilot_source.config import utc_today
from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub

DEMO_PIPELINE = "github_copilot_demo"
DEMO_DAYS = 45
# the demo loads the enterprise and, as an organization-only customer would, two of its organizations
DEMO_ORGANIZATIONS = ("octo-org-0", "octo-org-1")


def demo_enterprise(today: date | None = None) -> FakeEnterprise:
    """Six weeks of a 100-person enterprise, ending where GitHub's newest report would."""
    today = today or utc_today()
    newest = today - timedelta(days=3)
    return FakeEnterprise(
        slug="octo-demo",
        user_count=100,
        org_count=4,
        first_report_day=newest - timedelta(days=DEMO_DAYS - 1),
        newest_report_day=newest,
        idle_after=newest - timedelta(days=40),
        new_fields_from={"ai_credits_used": newest - timedelta(days=20)},
    )


@contextmanager
def demo_server(today: date | None = None) -> Iterator[dict[str, Any]]:
    """Serve the demo enterprise; yields the source arguments that point at it."""
    today = today or utc_today()
    enterprise = demo_enterprise(today)
    with FakeGitHub(enterprise, today=today) as fake:
        yield {
            "enterprise": enterprise.slug,
            "organizations": list(DEMO_ORGANIZATIONS),
            "access_token": fake.token,
            "base_url": fake.api_url,
            "start_date": enterprise.first_report_day,
            "today": today,
            # the fake serves AI credits too; a real account loads them only when asked (`billing`)
            "billing": True,
            "billing_poll_interval": 0.1,
        }
