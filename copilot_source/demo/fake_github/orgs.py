"""A fake enterprise's organizations, teams and repositories, and the reports GitHub serves for them.

Pure functions of `FakeEnterprise`: tests recompute what the fake serves from the same NDJSON lines
without the code under test. Organization `k` is `octo-org-k` (id 500 + k); its members are the
people holding a seat through it (directly or through its team). An organization's users-1-day lines
are its members' enterprise lines with `organization_id` added: GitHub counts a person in every
organization they belong to, so organization sums exceed the enterprise's.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

from copilot_source.demo.fake_github.data import BREAKDOWN_DIMENSIONS, COUNTERS, FakeEnterprise, _aggregate

# GitHub leaves teams with fewer seated Copilot users than this out of user-teams-1-day
MIN_TEAM_SIZE = 5
# user-teams-1-day exists from this day on (GitHub's changelog)
TEAMS_FROM = date(2026, 5, 14)
INTERNAL = ("etl_id", "day_partition", "entity_id_partition")


def org_login(index: int) -> str:
    return f"octo-org-{index}"


def org_id(index: int) -> str:
    return str(500 + index)


def org_index(enterprise: FakeEnterprise, login: str) -> int | None:
    for index in range(enterprise.org_count):
        if org_login(index).lower() == login.lower():
            return index
    return None


def org_members(enterprise: FakeEnterprise, index: int) -> list[int]:
    """People holding a current seat through organization `index`, in user order."""
    members = {
        user_id
        for user_id, org, team in enterprise.seat_assignments()
        if org == index and enterprise.seat_key(user_id, org, team) not in enterprise.removed_seats
    }
    return sorted(members)


def org_seats(enterprise: FakeEnterprise, index: int, as_of: date) -> list[dict[str, Any]]:
    return [seat for seat in enterprise.seats(as_of) if seat["organization"]["id"] == 500 + index]


def org_user_lines(enterprise: FakeEnterprise, index: int, day: date) -> list[str]:
    """The organization's users-1-day report: its active members' lines, with `organization_id`."""
    members = set(org_members(enterprise, index))
    lines = []
    for text in enterprise.users_report_lines(day):
        line = json.loads(text)
        if line["user_id"] in members:
            body = {k: v for k, v in line.items() if k not in INTERNAL}
            body = {"organization_id": org_id(index), **body}
            lines.append(json.dumps({**body, **{k: line[k] for k in INTERNAL}}, separators=(",", ":")))
    return lines


def _active_members(enterprise: FakeEnterprise, members: set[int], first: date, last: date) -> int:
    users: set[int] = set()
    day = first
    while day <= last:
        users.update(u for u in members if enterprise.is_active(u, day))
        day += timedelta(days=1)
    return len(users)


def org_day(enterprise: FakeEnterprise, index: int, day: date) -> dict[str, Any]:
    """The organization-1-day record: its members' totals (a bare daily record)."""
    lines = [json.loads(text) for text in org_user_lines(enterprise, index, day)]
    members = set(org_members(enterprise, index))
    totals: dict[str, Any] = {
        "day": day.isoformat(),
        "organization_id": org_id(index),
        "enterprise_id": enterprise.enterprise_id,
        "daily_active_users": len(lines),
        "weekly_active_users": _active_members(enterprise, members, day - timedelta(days=6), day),
        "monthly_active_users": _active_members(enterprise, members, day - timedelta(days=27), day),
        "monthly_active_chat_users": sum(1 for u in lines if u["used_chat"]),
        "monthly_active_agent_users": sum(1 for u in lines if u["used_agent"]),
        "daily_active_cli_users": sum(1 for u in lines if u["used_cli"]),
    }
    for counter in ("user_initiated_interaction_count", *COUNTERS):
        totals[counter] = sum(u[counter] for u in lines)
    for name, dims in BREAKDOWN_DIMENSIONS.items():
        totals[name] = _aggregate(lines, name, dims)
    totals.update(etl_id="green", day_partition=day.isoformat(), entity_id_partition=1)
    return totals


def org_day_lines(enterprise: FakeEnterprise, index: int, day: date) -> list[str]:
    return [json.dumps(org_day(enterprise, index, day), separators=(",", ":"))]


def org_billing(enterprise: FakeEnterprise, index: int, as_of: date) -> dict[str, Any]:
    """`GET /orgs/{org}/copilot/billing`: the seat breakdown and the Copilot policies."""
    seats = org_seats(enterprise, index, as_of)
    members = {seat["assignee"]["id"] for seat in seats}
    pending = sum(1 for seat in seats if seat.get("pending_cancellation_date"))
    active = {seat["assignee"]["id"] for seat in seats if seat.get("last_activity_at")}
    return {
        "seat_breakdown": {
            "total": len(members),
            "added_this_cycle": len(members) // 4,
            "pending_invitation": 0,
            "pending_cancellation": pending,
            "active_this_cycle": len(active),
            "inactive_this_cycle": len(members) - len(active),
        },
        "seat_management_setting": "assign_selected",
        "ide_chat": "enabled",
        "platform_chat": "enabled",
        "cli": "enabled" if index % 2 == 0 else "disabled",
        "public_code_suggestions": "block",
        "plan_type": "business",
    }


def org_profile(enterprise: FakeEnterprise, index: int) -> dict[str, Any]:
    """`GET /orgs/{org}`: what the source needs of it (its id)."""
    profile = enterprise.org(index)
    return {**profile, "type": "Organization"}


# ---- teams ---------------------------------------------------------------------------------------
def teams(enterprise: FakeEnterprise, scope_org: int | None) -> list[tuple[int, str, list[int]]]:
    """(team id, slug, members) of the organization `scope_org`, or of the enterprise (None).

    Each organization has its platform team (the one seats are granted through: all its direct
    members), a guild of every third member (so people sit on two teams) and a tiny team of three,
    which GitHub leaves out of the report. The enterprise has two enterprise teams.
    """
    users = enterprise.user_ids()
    if scope_org is None:
        return [
            (9001, "copilot-champions", [u for i, u in enumerate(users) if i % 4 == 0]),
            (9002, "all-engineers", list(users)),
            (9003, "tiny-enterprise-team", users[:2]),
        ]
    members = org_members(enterprise, scope_org)
    return [
        (7000 + scope_org, f"platform-{scope_org}", members),
        (7100 + scope_org, f"guild-{scope_org}", [u for i, u in enumerate(members) if i % 3 == 0]),
        (7200 + scope_org, f"tiny-{scope_org}", members[:3]),
    ]


def user_team_lines(enterprise: FakeEnterprise, day: date, scope_org: int | None) -> list[str]:
    """user-teams-1-day: one line per (user, team) of the day, teams under five seats left out."""
    if day < TEAMS_FROM:
        return []
    entity = (
        {"enterprise_id": enterprise.enterprise_id} if scope_org is None else {"organization_id": org_id(scope_org)}
    )
    lines = []
    for team_id, slug, members in teams(enterprise, scope_org):
        if len(members) < MIN_TEAM_SIZE:
            continue
        for user_id in members:
            line = {
                "user_id": user_id,
                "user_login": enterprise.login(user_id, day),
                "day": day.isoformat(),
                **entity,
                "team_id": team_id,
                "slug": slug,
            }
            lines.append(json.dumps(line, separators=(",", ":")))
    return lines


# ---- repositories --------------------------------------------------------------------------------
def repos(enterprise: FakeEnterprise) -> list[tuple[int, int, str]]:
    """(repository id, owning organization index, name): three per organization."""
    return [(90000 + 10 * org + j, org, f"service-{j}") for org in range(enterprise.org_count) for j in range(3)]


def repo_lines(enterprise: FakeEnterprise, day: date, scope_org: int | None) -> list[str]:
    """repos-1-day: one line per repository with pull-request activity that day (not every day)."""
    lines = []
    for repo_id, org, name in repos(enterprise):
        if scope_org is not None and org != scope_org:
            continue
        rng = random.Random(f"{enterprise.seed}:repo:{day}:{repo_id}:{enterprise.revisions.get(day, 0)}")
        if rng.random() < 0.35:
            continue  # no pull requests that day: GitHub leaves the repository out
        created = rng.randrange(1, 30)
        merged = rng.randrange(0, created + 1)
        entity = {"enterprise_id": enterprise.enterprise_id} if scope_org is None else {"organization_id": org_id(org)}
        line = {
            "day": day.isoformat(),
            **entity,
            "repo_id": repo_id,
            "repo_owner_name": org_login(org),
            "repo_name": name,
            "repo_visibility": ("PRIVATE", "INTERNAL", "PUBLIC")[repo_id % 3],
            "pull_requests": {
                "total_created": created,
                "total_reviewed": rng.randrange(0, created + 1),
                "total_merged": merged,
                "median_minutes_to_merge": round(rng.uniform(5, 600), 1),
                "total_created_by_copilot": rng.randrange(0, created + 1),
                "total_reviewed_by_copilot": rng.randrange(0, created + 1),
                "total_suggestions": rng.randrange(0, 50),
                "total_applied_suggestions": rng.randrange(0, 20),
                "copilot_suggestions_by_comment_type": [
                    {
                        "comment_type": kind,
                        "total_copilot_suggestions": rng.randrange(0, 10),
                        "total_copilot_applied_suggestions": rng.randrange(0, 5),
                    }
                    for kind in ("bug", "nitpick")
                ],
            },
        }
        lines.append(json.dumps(line, separators=(",", ":")))
    return lines
