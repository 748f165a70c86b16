"""A deterministic fake GitHub Enterprise: seats and Copilot usage reports.

Everything is a pure function of the `FakeEnterprise` settings, so tests can recompute what the
fake serves (by parsing the same NDJSON lines) without going through the code under test. The
shapes follow GitHub's published contract (see `../shared/contract/`): seats as in the OpenAPI
`copilot-seat-details`, report lines as in GitHub's example report rows.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

IDES = ("vscode", "jetbrains", "visualstudio", "neovim", "xcode", "eclipse")
FEATURES = (
    "code_completion",
    "agent_edit",
    "chat_panel_ask_mode",
    "chat_panel_agent_mode",
    "chat_panel_edit_mode",
    "chat_inline",
    "copilot_cli",
)
LANGUAGES = ("python", "typescript", "go", "java", "rust", "csharp", "sql", "unknown")
MODELS = ("gpt-4.1", "gpt-5", "claude-sonnet-4", "gemini-2.5-pro", "o4-mini")
COUNTERS = (
    "code_generation_activity_count",
    "code_acceptance_activity_count",
    "loc_suggested_to_add_sum",
    "loc_suggested_to_delete_sum",
    "loc_added_sum",
    "loc_deleted_sum",
)
BREAKDOWNS = (
    "totals_by_ide",
    "totals_by_feature",
    "totals_by_language_feature",
    "totals_by_language_model",
    "totals_by_model_feature",
)
# breakdowns whose elements also carry user_initiated_interaction_count (as in GitHub's example)
_WITH_INTERACTIONS = {"totals_by_ide", "totals_by_feature", "totals_by_model_feature"}
# the dimension keys of each breakdown, used to aggregate the enterprise report
BREAKDOWN_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "totals_by_ide": ("ide",),
    "totals_by_feature": ("feature",),
    "totals_by_language_feature": ("language", "feature"),
    "totals_by_language_model": ("language", "model"),
    "totals_by_model_feature": ("model", "feature"),
}


def _stable_hash(*parts: object) -> int:
    return zlib.crc32(":".join(str(p) for p in parts).encode())


def iso_z(moment: datetime) -> str:
    """GitHub's report timestamp format: milliseconds and a `Z`."""
    utc = moment.astimezone(timezone.utc)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


@dataclass
class FakeEnterprise:
    """Settings of one fake enterprise; mutate them between runs to simulate GitHub changing."""

    slug: str = "octo-demo"
    enterprise_id: str = "4242"
    user_count: int = 40
    org_count: int = 3
    first_report_day: date = date(2025, 10, 10)
    newest_report_day: date = date(2025, 10, 20)
    seed: int = 1
    active_percent: int = 70
    files_per_report: int = 2
    # "bare": one day object per line; "wrapper": a 28-day style wrapper with `day_totals[]`
    enterprise_report_shape: str = "bare"
    # breakdown sizes scale line length; 1 gives lines of ~2-5 KB like real reports
    detail: int = 1
    # days (between first and newest) that answer 404 although later days exist
    unavailable_days: set[date] = field(default_factory=set)
    # bump a day's revision to make GitHub "correct" that day's numbers
    revisions: dict[date, int] = field(default_factory=dict)
    # user id -> (first day of the new login, new login)
    renamed_logins: dict[int, tuple[date, str]] = field(default_factory=dict)
    # new report fields: name -> first day they appear (values derive from the user and day)
    new_fields_from: dict[str, date] = field(default_factory=dict)
    # from this day on, every ninth person stops using Copilot (idle seats to reclaim)
    idle_after: date | None = None
    # seat keys ("assignee:org:team") that are no longer assigned
    removed_seats: set[str] = field(default_factory=set)
    # seat key -> plan_type override (an assignment change)
    plan_changes: dict[str, str] = field(default_factory=dict)
    # user id -> the day the seat list shows as their last activity, whatever the reports say
    last_activity: dict[int, date] = field(default_factory=dict)
    _line_cache: dict[tuple[date, str], list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    # ---- people and seats -------------------------------------------------------------------
    def user_ids(self) -> list[int]:
        return [1000 + i for i in range(1, self.user_count + 1)]

    def login(self, user_id: int, day: date | None = None) -> str:
        renamed = self.renamed_logins.get(user_id)
        if renamed and (day is None or day >= renamed[0]):
            return renamed[1]
        return f"dev-{user_id:05d}"

    def org(self, index: int) -> dict[str, Any]:
        org_id = 500 + index
        return {
            "login": f"octo-org-{index}",
            "id": org_id,
            "node_id": f"O_{org_id}",
            "url": f"https://api.github.com/orgs/octo-org-{index}",
            "repos_url": f"https://api.github.com/orgs/octo-org-{index}/repos",
            "events_url": f"https://api.github.com/orgs/octo-org-{index}/events",
            "hooks_url": f"https://api.github.com/orgs/octo-org-{index}/hooks",
            "issues_url": f"https://api.github.com/orgs/octo-org-{index}/issues",
            "members_url": f"https://api.github.com/orgs/octo-org-{index}/members{{/member}}",
            "public_members_url": f"https://api.github.com/orgs/octo-org-{index}/public_members{{/member}}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{org_id}?v=4",
            "description": f"Fake organization {index}",
        }

    def team(self, org_index: int) -> dict[str, Any]:
        team_id = 7000 + org_index
        slug = f"platform-{org_index}"
        return {
            "id": team_id,
            "node_id": f"T_{team_id}",
            "url": f"https://api.github.com/teams/{team_id}",
            "html_url": f"https://github.com/orgs/octo-org-{org_index}/teams/{slug}",
            "name": f"Platform {org_index}",
            "slug": slug,
            "description": "Platform engineers",
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "members_url": f"https://api.github.com/teams/{team_id}/members{{/member}}",
            "repositories_url": f"https://api.github.com/teams/{team_id}/repos",
            "type": "organization",
            "organization_id": 500 + org_index,
            "parent": None,
        }

    def user(self, user_id: int, day: date | None = None) -> dict[str, Any]:
        login = self.login(user_id, day)
        return {
            "login": login,
            "id": user_id,
            "node_id": f"U_{user_id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
            "gravatar_id": "",
            "url": f"https://api.github.com/users/{login}",
            "html_url": f"https://github.com/{login}",
            "type": "User",
            "site_admin": False,
        }

    def seat_assignments(self) -> list[tuple[int, int, int | None]]:
        """(user id, org index, team org index or None): direct seats, plus a second seat through a
        team of another organization for every fifth person (one person, several seat rows)."""
        rows: list[tuple[int, int, int | None]] = []
        for i, user_id in enumerate(self.user_ids()):
            rows.append((user_id, i % self.org_count, None))
            if i % 5 == 0 and self.org_count > 1:
                other = (i + 1) % self.org_count
                rows.append((user_id, other, other))
        return rows

    @staticmethod
    def seat_key(user_id: int, org_index: int, team_org: int | None) -> str:
        team_id = "" if team_org is None else str(7000 + team_org)
        return f"{user_id}:{500 + org_index}:{team_id}"

    def seats(self, as_of: date) -> list[dict[str, Any]]:
        """The seat list GitHub would answer on `as_of` (order is stable, as GitHub's is)."""
        seats = []
        for user_id, org_index, team_org in self.seat_assignments():
            key = self.seat_key(user_id, org_index, team_org)
            if key in self.removed_seats:
                continue
            h = _stable_hash(self.seed, "seat", key)
            created = datetime(2025, 1, 1, 9, tzinfo=timezone.utc) + timedelta(hours=h % 5000)
            last_active = self.last_activity.get(user_id) or self.last_active_day(user_id, as_of)
            activity_at = None
            editor = None
            if last_active is not None:
                moment = datetime.combine(last_active, time(hour=8 + h % 10), timezone.utc)
                activity_at = moment.isoformat().replace("+00:00", "Z")
                editor = f"vscode/1.{96 + h % 4}.0/copilot-chat/0.{24 + h % 3}.0"
            seats.append(
                {
                    "created_at": created.isoformat().replace("+00:00", "Z"),
                    "updated_at": created.isoformat().replace("+00:00", "Z"),
                    "pending_cancellation_date": ((as_of + timedelta(days=20)).isoformat() if h % 11 == 0 else None),
                    "last_activity_at": activity_at,
                    "last_activity_editor": editor,
                    "last_authenticated_at": activity_at,
                    "plan_type": self.plan_changes.get(key, "business" if h % 3 else "enterprise"),
                    "assignee": self.user(user_id, as_of),
                    "organization": self.org(org_index),
                    "assigning_team": None if team_org is None else self.team(team_org),
                }
            )
        return seats

    # ---- activity -------------------------------------------------------------------------
    def report_days(self) -> list[date]:
        """Every day GitHub has a report for (holes excluded)."""
        days = []
        day = self.first_report_day
        while day <= self.newest_report_day:
            if day not in self.unavailable_days:
                days.append(day)
            day += timedelta(days=1)
        return days

    def is_available(self, day: date) -> bool:
        return self.first_report_day <= day <= self.newest_report_day and day not in self.unavailable_days

    def is_active(self, user_id: int, day: date) -> bool:
        index = user_id - 1000
        if index % 13 == 0:
            return False  # holds a seat, never uses it
        if index % 9 == 0 and self.idle_after is not None and day > self.idle_after:
            return False  # stopped using Copilot: an idle seat to reclaim
        return _stable_hash(self.seed, day, user_id) % 100 < self.active_percent

    def last_active_day(self, user_id: int, as_of: date) -> date | None:
        day = min(as_of, self.newest_report_day)
        for _ in range(90):  # GitHub nulls last_activity_at after 90 idle days
            if day < self.first_report_day:
                return None
            if self.is_active(user_id, day):
                return day
            day -= timedelta(days=1)
        return None

    # ---- users-1-day report ---------------------------------------------------------------
    def user_day(self, user_id: int, day: date) -> dict[str, Any]:
        """One line of the users-1-day report."""
        rev = self.revisions.get(day, 0)
        rng = random.Random(f"{self.seed}:{day}:{user_id}:{rev}")
        stamp = datetime.combine(day, time(hour=rng.randrange(24)), timezone.utc)

        def counters(interactions: bool) -> dict[str, int]:
            gen = rng.randrange(1, 60)
            acc = rng.randrange(0, gen + 1)
            add = rng.randrange(0, 400)
            values = {
                "code_generation_activity_count": gen,
                "code_acceptance_activity_count": acc,
                "loc_suggested_to_add_sum": add,
                "loc_suggested_to_delete_sum": rng.randrange(0, 80),
                "loc_added_sum": rng.randrange(0, add + 1),
                "loc_deleted_sum": rng.randrange(0, 50),
            }
            if interactions:
                values = {"user_initiated_interaction_count": rng.randrange(0, 30), **values}
            return values

        d = self.detail
        ides = rng.sample(IDES, min(len(IDES), rng.randrange(1, 2 + d)))
        features = rng.sample(FEATURES, min(len(FEATURES), rng.randrange(1, 3 + 2 * d)))
        langs = rng.sample(LANGUAGES, min(len(LANGUAGES), rng.randrange(1, 3 + 2 * d)))
        models = rng.sample(MODELS, min(len(MODELS), rng.randrange(0, 2 + d)))
        by_ide = []
        for ide in ides:
            by_ide.append(
                {
                    "ide": ide,
                    **counters(True),
                    "last_known_ide_version": {
                        "ide_version": f"1.{80 + rng.randrange(20)}.{rng.randrange(5)}",
                        "sampled_at": iso_z(stamp),
                    },
                    "last_known_plugin_version": {
                        "plugin": "copilot-chat",
                        "plugin_version": f"0.{20 + rng.randrange(10)}.{rng.randrange(9)}",
                        "sampled_at": iso_z(stamp + timedelta(minutes=rng.randrange(60))),
                    },
                }
            )
        by_feature: list[dict[str, Any]] = [{"feature": f, **counters(True)} for f in features]
        by_lang_feature = [{"language": lang, "feature": rng.choice(features), **counters(False)} for lang in langs]
        by_lang_model = [{"language": rng.choice(langs), "model": m, **counters(False)} for m in models]
        by_model_feature = [{"model": m, "feature": rng.choice(features), **counters(True)} for m in models]
        # the user's totals are the sums over features, as in GitHub's example
        totals: dict[str, int] = {
            c: sum(int(row[c]) for row in by_feature) for c in ("user_initiated_interaction_count", *COUNTERS)
        }
        line: dict[str, Any] = {
            "user_id": user_id,
            "user_login": self.login(user_id, day),
            "day": day.isoformat(),
            "enterprise_id": self.enterprise_id,
            **totals,
            "totals_by_ide": by_ide,
            "totals_by_feature": by_feature,
            "totals_by_language_feature": by_lang_feature,
            "totals_by_language_model": by_lang_model,
            "totals_by_model_feature": by_model_feature,
            "used_agent": "agent_edit" in features or "chat_panel_agent_mode" in features,
            "used_chat": any(f.startswith("chat") for f in features),
            "used_cli": "copilot_cli" in features,
        }
        if "copilot_cli" in features:
            requests = rng.randrange(1, 20)
            line["totals_by_cli"] = {
                "session_count": rng.randrange(1, 5),
                "request_count": requests,
                "prompt_count": requests,
                "token_usage": {
                    "output_tokens_sum": requests * 900,
                    "prompt_tokens_sum": requests * 1300,
                    "avg_tokens_per_request": 2200.0,
                },
                "last_known_cli_version": {"cli_version": "1.0.8", "sampled_at": iso_z(stamp)},
            }
        for name, since in sorted(self.new_fields_from.items()):
            if day >= since:
                line[name] = _new_field_value(name, rng)
        line.update(etl_id="green", day_partition=day.isoformat(), entity_id_partition=1)
        return line

    def users_report_lines(self, day: date) -> list[str]:
        """The users-1-day report of `day` as NDJSON lines, in file order."""
        key = (day, self._content_fingerprint(day))
        cached = self._line_cache.get(key)
        if cached is None:
            cached = [
                json.dumps(self.user_day(user_id, day), separators=(",", ":"))
                for user_id in self.user_ids()
                if self.is_active(user_id, day)
            ]
            if len(self._line_cache) > 64:
                self._line_cache.clear()
            self._line_cache[key] = cached
        return list(cached)

    def _content_fingerprint(self, day: date) -> str:
        """Everything a day's report lines depend on (settings change between test runs)."""
        return repr(
            (
                self.enterprise_id,
                self.user_count,
                self.seed,
                self.active_percent,
                self.detail,
                self.idle_after,
                self.revisions.get(day, 0),
                sorted(self.renamed_logins.items()),
                sorted(self.new_fields_from.items()),
            )
        )

    # ---- enterprise-1-day report ----------------------------------------------------------
    def active_users_between(self, first: date, last: date) -> int:
        users: set[int] = set()
        day = first
        while day <= last:
            users.update(u for u in self.user_ids() if self.is_active(u, day))
            day += timedelta(days=1)
        return len(users)

    def enterprise_day(self, day: date) -> dict[str, Any]:
        """The enterprise's totals for `day`, aggregated from the users-1-day lines."""
        lines = [json.loads(line) for line in self.users_report_lines(day)]
        totals: dict[str, Any] = {
            "day": day.isoformat(),
            "enterprise_id": self.enterprise_id,
            "daily_active_users": len(lines),
            "weekly_active_users": self.active_users_between(day - timedelta(days=6), day),
            "monthly_active_users": self.active_users_between(day - timedelta(days=27), day),
            "monthly_active_chat_users": sum(1 for u in lines if u["used_chat"]),
            "monthly_active_agent_users": sum(1 for u in lines if u["used_agent"]),
            "daily_active_cli_users": sum(1 for u in lines if u["used_cli"]),
        }
        for c in ("user_initiated_interaction_count", *COUNTERS):
            totals[c] = sum(u[c] for u in lines)
        for name, dims in BREAKDOWN_DIMENSIONS.items():
            totals[name] = _aggregate(lines, name, dims)
        merged = sum(1 for u in lines if u["code_acceptance_activity_count"] % 3 == 0)
        totals["pull_requests"] = {
            "total_created": len(lines),
            "total_reviewed": len(lines) // 2,
            "total_merged": merged,
            "median_minutes_to_merge": 42.5,
            "total_suggestions": len(lines) * 2,
            "total_applied_suggestions": len(lines),
            "copilot_suggestions_by_comment_type": [
                {
                    "comment_type": "nitpick",
                    "total_copilot_suggestions": len(lines),
                    "total_copilot_applied_suggestions": merged,
                },
                {
                    "comment_type": "bug",
                    "total_copilot_suggestions": merged,
                    "total_copilot_applied_suggestions": merged // 2,
                },
            ],
        }
        for name, since in sorted(self.new_fields_from.items()):
            if day >= since:
                totals[name] = _new_field_value(name, random.Random(f"{self.seed}:{day}:{name}"))
        return totals

    def enterprise_report_lines(self, day: date) -> list[str]:
        body = self.enterprise_day(day)
        internal = {"etl_id": "green", "day_partition": day.isoformat(), "entity_id_partition": 1}
        if self.enterprise_report_shape == "wrapper":
            body = {
                "report_start_day": day.isoformat(),
                "report_end_day": day.isoformat(),
                "enterprise_id": self.enterprise_id,
                "day_totals": [body],
                **internal,
            }
        else:
            body = {**body, **internal}
        return [json.dumps(body, separators=(",", ":"))]

    def report_lines(self, report: str, day: date) -> list[str]:
        if report == "users-1-day":
            return self.users_report_lines(day)
        if report == "enterprise-1-day":
            return self.enterprise_report_lines(day)
        raise KeyError(report)

    def split_files(self, lines: Sequence[str]) -> list[list[str]]:
        """Split a report over `files_per_report` files, as GitHub does for large reports."""
        count = max(1, min(self.files_per_report, len(lines)))
        size = -(-len(lines) // count) if lines else 0
        if not lines:
            return [[]]
        return [list(lines[i : i + size]) for i in range(0, len(lines), size)]


def _new_field_value(name: str, rng: random.Random) -> Any:
    if name.startswith("used_"):
        return rng.random() < 0.5
    if name.startswith("totals_by_"):
        return [{"agent_name": "claude", "session_count": rng.randrange(1, 9)}]
    return round(rng.random() * 20, 2)


def _aggregate(lines: list[dict[str, Any]], name: str, dims: tuple[str, ...]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for line in lines:
        for el in line[name]:
            key = tuple(el[d] for d in dims)
            agg = groups.setdefault(key, {d: el[d] for d in dims})
            for c in ("user_initiated_interaction_count", *COUNTERS):
                if c in el:
                    agg[c] = agg.get(c, 0) + el[c]
    return [groups[k] for k in sorted(groups)]
