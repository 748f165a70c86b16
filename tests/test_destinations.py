"""One fake enterprise loaded into DuckDB, a real PostgreSQL server and Delta tables on the
filesystem destination: the same tables, the same rows, the same types, after a first run and
after an incremental run that re-reads corrected days."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from deltalake import DeltaTable
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.pipeline.exceptions import PipelineStepFailed

from copilot_source.config import parse_table_format
from copilot_source.demo.fake_github import FakeGitHub
from copilot_source.demo.fake_github.data import BREAKDOWNS
from copilot_source.destinations import merge_strategies
from copilot_source.errors import ConfigurationError, find_source_error
from tests.conftest import NEWEST, TODAY, make_pipeline, report_lines, run
from tests.postgres import PostgresServer, running_postgres

DATASET = "copilot_data"
Query = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database per test on the module's server."""
    return postgres_server.create_database(f"copilot_{uuid.uuid4().hex[:12]}")


@dataclass
class Target:
    """A pipeline into one destination, and a way to query what it holds."""

    name: str
    pipeline: dlt.Pipeline
    source_args: dict[str, Any] = field(default_factory=dict)
    lake: Path | None = None

    @property
    def keeps_history(self) -> bool:
        return self.lake is None

    def table(self, name: str) -> str:
        """The name a table has here: dlt shortens names past the destination's limit (PostgreSQL: 63)."""
        assert self.pipeline.destination is not None
        limit = self.pipeline.destination.capabilities().max_identifier_length
        return NamingConvention(max_length=limit).normalize_path(name)

    @contextmanager
    def sql(self) -> Iterator[Query]:
        if self.lake is None:
            with self.pipeline.sql_client() as client:
                yield lambda sql: [tuple(r) for r in client.execute_sql(sql)]
            return
        # Delta tables read with the deltalake package (offline), queried with the same SQL
        with duckdb.connect() as db:
            for folder in sorted((self.lake / DATASET).iterdir()):
                if (folder / "_delta_log").is_dir():
                    db.register(folder.name, DeltaTable(str(folder)).to_pyarrow_table())
            yield lambda sql: [tuple(r) for r in db.execute(sql).fetchall()]

    def column_types(self, tables: list[str] | None = None) -> dict[str, dict[str, str]]:
        """table -> column -> kind, for our data columns (dlt's own columns left out); with
        `tables`, found under the names these tables have here."""
        found: dict[str, dict[str, str]] = {}
        if self.lake is None:
            with self.sql() as query:
                listed = query(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns"
                    f" WHERE table_schema = '{DATASET}'"
                )
        else:
            listed = [
                (folder.name, f.name, str(f.type))
                for folder in (self.lake / DATASET).iterdir()
                if (folder / "_delta_log").is_dir()
                for f in DeltaTable(str(folder)).to_pyarrow_table().schema
            ]
        for table, column, data_type in listed:
            if not table.startswith("_dlt") and not column.startswith("_dlt"):
                found.setdefault(table, {})[column] = kind(data_type)
        if tables is None:
            return found
        assert len(found) == len(tables), (self.name, sorted(set(found) ^ {self.table(t) for t in tables}))
        missing = [t for t in tables if self.table(t) not in found]
        assert not missing, (self.name, missing, sorted(found))
        return {table: found[self.table(table)] for table in tables}


def kind(data_type: str) -> str:
    """One name per type, whether DuckDB, PostgreSQL or Arrow (Delta) spells it."""
    spelled = data_type.lower()
    if spelled.startswith("timestamp"):
        return "timestamptz" if "time zone" in spelled or "tz=" in spelled else "timestamp"
    names = {
        "date": "date",
        "date32[day]": "date",
        "bigint": "bigint",
        "int64": "bigint",
        "varchar": "text",
        "character varying": "text",
        "text": "text",
        "string": "text",
        "large_string": "text",
        "double": "double",
        "double precision": "double",
        "boolean": "bool",
        "bool": "bool",
    }
    return names.get(spelled, spelled)


def aggregates(column: str, column_kind: str) -> list[str]:
    if column_kind in ("bigint", "double"):
        return [f"sum({column})", f"count({column})"]
    if column_kind == "bool":
        return [f"sum(CASE WHEN {column} THEN 1 ELSE 0 END)", f"count({column})"]
    if column_kind in ("date", "timestamptz"):
        return [f"min({column})", f"max({column})", f"count(DISTINCT {column})"]
    return [f"count({column})", f"count(DISTINCT {column})"]


PRIMARY_KEYS = {
    "seats": ("seat_key",),
    "seat_activity": ("snapshot_day", "seat_key"),
    "enterprise_metrics": ("day", "enterprise_id"),
    "users_1_day": ("day", "enterprise_id", "user_id"),
    "user_teams_1_day": ("day", "enterprise_id", "user_id", "team_id"),
    "repos_1_day": ("day", "enterprise_id", "repo_id"),
}


def key_of(table: str) -> tuple[str, ...]:
    """A table's key: its own, or for an array table its report's key plus the position."""
    report = table.split("__")[0]
    keys = PRIMARY_KEYS[report]
    return keys if table == report else (*keys, "list_index")


def number(value: Any) -> Any:
    """PostgreSQL sums integers as NUMERIC: compare them as Python ints."""
    if hasattr(value, "as_integer_ratio") and not isinstance(value, (int, float)):
        return int(value) if value == int(value) else float(value)
    return value


def snapshot(target: Target, types: dict[str, dict[str, str]]) -> dict[tuple[str, str], Any]:
    """Row count, key set and per-column aggregates of every table (current seats only)."""
    facts: dict[tuple[str, str], Any] = {}
    with target.sql() as query:
        for table, columns in sorted(types.items()):
            where = " WHERE _dlt_valid_to IS NULL" if table == "seats" and target.keeps_history else ""
            keys = key_of(table)
            key_rows = query(f"SELECT {', '.join(keys)} FROM {target.table(table)}{where}")
            facts[(table, "rows")] = len(key_rows)
            facts[(table, "keys")] = set(key_rows)
            expressions = [e for column, k in sorted(columns.items()) for e in aggregates(column, k)]
            values = query(f"SELECT {', '.join(expressions)} FROM {target.table(table)}{where}")[0]
            for expression, value in zip(expressions, values, strict=True):
                facts[(table, expression)] = number(value)
    return facts


def assert_same(expected: dict[tuple[str, str], Any], got: dict[tuple[str, str], Any], where: str) -> None:
    assert got.keys() == expected.keys(), where
    for fact, value in expected.items():
        if isinstance(value, float):
            assert math.isclose(got[fact], value, rel_tol=1e-9), (where, fact)
        else:
            assert got[fact] == value, (where, fact)


def served(fake: FakeGitHub, kept: dict[date, list[dict[str, Any]]] | None = None) -> dict[str, int]:
    """Rows per report table, from the NDJSON lines the fake serves (`kept`: days as first served)."""
    days = fake.enterprise.report_days()
    kept = kept or {}
    lines = [line for day in days for line in kept.get(day) or report_lines(fake, "users-1-day", day)]
    counts = {"users_1_day": len(lines), "enterprise_metrics": len(days)}
    for breakdown in BREAKDOWNS:
        counts[f"users_1_day__{breakdown}"] = sum(len(line[breakdown]) for line in lines)
    counts["sum(users_1_day.loc_added_sum)"] = sum(line["loc_added_sum"] for line in lines)
    return counts


def loaded(target: Target) -> dict[str, int]:
    with target.sql() as query:
        counts = {
            table: query(f"SELECT count(*) FROM {table}")[0][0] for table in ("users_1_day", "enterprise_metrics")
        }
        for breakdown in BREAKDOWNS:
            counts[f"users_1_day__{breakdown}"] = query(f"SELECT count(*) FROM users_1_day__{breakdown}")[0][0]
        counts["sum(users_1_day.loc_added_sum)"] = number(query("SELECT sum(loc_added_sum) FROM users_1_day")[0][0])
    return counts


def seat_key(seat: dict[str, Any]) -> str:
    return f"{seat['assignee']['id']}:{seat['organization']['id']}:{(seat['assigning_team'] or {}).get('id', '')}"


def test_duckdb_postgres_and_delta_hold_identical_tables(tmp_path: Path, fake: FakeGitHub, postgres_url: str) -> None:
    targets = [
        Target("duckdb", make_pipeline(tmp_path, "on_duckdb")),
        Target("postgres", make_pipeline(tmp_path, "on_postgres", destination=dlt.destinations.postgres(postgres_url))),
        Target(
            "delta",
            make_pipeline(tmp_path, "on_delta", destination=dlt.destinations.filesystem(str(tmp_path / "lake"))),
            source_args={"table_format": "delta"},
            lake=tmp_path / "lake",
        ),
    ]
    for target in targets:
        run(target.pipeline, fake, **target.source_args)

    reference, *others = targets
    types = reference.column_types()
    # seats, seat_activity, the four reports, every array of users-1-day and of enterprise-1-day,
    # and the comment types of pull requests in enterprise-1-day and in repos-1-day
    assert len(types) == 6 + len(BREAKDOWNS) + len(BREAKDOWNS) + 2
    assert {
        "user_teams_1_day",
        "repos_1_day",
        "repos_1_day__pull_requests__copilot_suggestions_by_comment_type",
    } <= set(types)
    for target in others:
        assert target.column_types(sorted(types)) == types, target.name
    for table in ("users_1_day", "enterprise_metrics", *(f"users_1_day__{b}" for b in BREAKDOWNS)):
        assert types[table]["day"] == "date", table
    assert types["seat_activity"]["snapshot_day"] == "date"
    assert types["users_1_day"]["user_id"] == types["users_1_day__totals_by_ide"]["user_id"] == "bigint"
    assert types["users_1_day"]["enterprise_id"] == "text"
    assert types["users_1_day__totals_by_ide"]["list_index"] == "bigint"
    assert types["seats"]["created_at"] == types["seat_activity"]["last_activity_at"] == "timestamptz"
    assert types["users_1_day"]["totals_by_cli__token_usage__avg_tokens_per_request"] == "double"
    assert types["users_1_day"]["used_chat"] == "bool"

    first = snapshot(reference, types)
    for target in others:
        assert_same(first, snapshot(target, types), target.name)
    for target in targets:
        assert loaded(target) == served(fake), target.name

    # GitHub corrects a day inside the lookback window (arrays change length) and one outside
    # it, publishes the next day; a seat is removed and another changes plan
    inside, outside = NEWEST - timedelta(days=1), NEWEST - timedelta(days=6)
    kept = {outside: report_lines(fake, "users-1-day", outside)}
    ide_before = sum(len(line["totals_by_ide"]) for line in report_lines(fake, "users-1-day", inside))
    fake.enterprise.revisions.update({inside: 7, outside: 1})
    fake.enterprise.newest_report_day = NEWEST + timedelta(days=1)
    ide_after = sum(len(line["totals_by_ide"]) for line in report_lines(fake, "users-1-day", inside))
    assert ide_after != ide_before  # the correction is visible, so a missed re-read would fail
    seats = fake.enterprise.seats(TODAY)
    removed, changed = seat_key(seats[1]), seat_key(seats[2])
    fake.enterprise.removed_seats.add(removed)
    fake.enterprise.plan_changes[changed] = "enterprise" if seats[2]["plan_type"] == "business" else "business"

    for target in targets:
        run(target.pipeline, fake, **target.source_args)

    second = snapshot(reference, types)
    assert second != first
    for target in others:
        assert_same(second, snapshot(target, types), target.name)
    expected = served(fake, kept)
    assert expected != served(fake)  # the day outside the window really changed at GitHub
    current = {seat_key(s) for s in fake.enterprise.seats(TODAY)}
    assert removed not in current and changed in current
    for target in targets:
        # merged in place: the re-read day replaced, the older day untouched, the new day added
        assert loaded(target) == expected, target.name
        facts = snapshot(target, types)
        for table in types:
            assert facts[(table, "rows")] == len(facts[(table, "keys")]), (target.name, table)
        with target.sql() as query:
            got = query(f"SELECT count(*) FROM users_1_day__totals_by_ide WHERE day = DATE '{inside}'")
            assert got == [(ide_after,)], target.name
            if target.keeps_history:
                history = query("SELECT seat_key, _dlt_valid_to IS NULL FROM seats")
                assert {key for key, active in history if active} == current, target.name
                assert sorted(active for key, active in history if key == changed) == [False, True], target.name
                assert [active for key, active in history if key == removed] == [False], target.name
            else:
                # Delta has no scd2: `seats` holds the current assignments only
                assert {key for (key,) in query("SELECT seat_key FROM seats")} == current

    # a run with nothing new re-reads the window again and changes nothing anywhere
    for target in targets:
        run(target.pipeline, fake, **target.source_args)
        assert_same(second, snapshot(target, types), f"{target.name}, third run")


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("delta", "delta"), (" Delta ", "delta")])
def test_table_format_accepts_delta_or_nothing(value: Any, expected: Any) -> None:
    assert parse_table_format(value) == expected


@pytest.mark.parametrize("value", ["iceberg", "parquet", "hive"])
def test_other_table_formats_are_refused_naming_the_key(value: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_table_format(value)
    assert f"`table_format` under [sources.copilot] (env SOURCES__COPILOT__TABLE_FORMAT) is '{value}'" in str(
        raised.value
    )


def test_delta_tables_on_a_database_are_refused_before_loading(tmp_path: Path, fake: FakeGitHub) -> None:
    pipeline = make_pipeline(tmp_path, "delta_on_duckdb")
    with pytest.raises(PipelineStepFailed) as raised:
        run(pipeline, fake, table_format="delta")
    error = find_source_error(raised.value)
    assert isinstance(error, ConfigurationError)
    assert 'is "delta", but the duckdb destination does not write delta tables' in error.message
    with pipeline.sql_client() as client:
        assert not client.has_dataset()


@pytest.mark.parametrize(
    ("destination", "table_format", "replaces_days", "keeps_history"),
    [
        # the destinations the README documents, as dlt describes their merges
        ("duckdb", None, True, True),
        ("motherduck", None, True, True),
        ("postgres", None, True, True),
        ("bigquery", None, True, True),
        ("snowflake", None, True, True),
        ("databricks", None, True, True),
        ("filesystem", "delta", True, False),
        ("filesystem", None, False, False),
        ("redshift", None, False, True),
    ],
)
def test_what_each_destination_can_merge(
    destination: str, table_format: Any, replaces_days: bool, keeps_history: bool
) -> None:
    strategies = merge_strategies(getattr(dlt.destinations, destination)().capabilities(), table_format)
    assert ("cdc" in strategies) is replaces_days
    assert ("scd2" in strategies) is keeps_history


# -- the config-only swap: the same `python pipelines/load.py`, only .dlt/ files differ ---------

ROOT = Path(__file__).resolve().parent.parent
SWAPS = {
    "duckdb": ("", ""),
    "postgres": ("", '[destination.postgres]\ncredentials = "{postgres_url}"\n'),
    "filesystem": ('\n[destination.filesystem]\nbucket_url = "lake"\n', ""),
}


def configure(cwd: Path, destination: str, table_format: str | None, postgres_url: str = "") -> None:
    """The shipped .dlt/config.toml with the destination swapped, as a user would edit it."""
    config = (ROOT / ".dlt" / "config.toml").read_text()
    shipped = 'destination_type = "duckdb"'
    assert shipped in config
    config = config.replace(shipped, f'destination_type = "{destination}"')
    if table_format:
        config = config.replace("[sources.copilot]\n", f'[sources.copilot]\ntable_format = "{table_format}"\n', 1)
    extra_config, secrets = SWAPS[destination]
    (cwd / ".dlt").mkdir()
    (cwd / ".dlt" / "config.toml").write_text(config + extra_config)
    (cwd / ".dlt" / "secrets.toml").write_text(secrets.format(postgres_url=postgres_url))


def load_py(cwd: Path, fake: FakeGitHub) -> subprocess.CompletedProcess[str]:
    """`python pipelines/load.py` in `cwd`; the enterprise and token come from env vars, as in CI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION", "PIPELINES__"))}
    env.update(
        DLT_PROJECT_DIR=str(cwd),
        SOURCES__COPILOT__ENTERPRISE=fake.enterprise.slug,
        SOURCES__COPILOT__ACCESS_TOKEN=fake.token,
        SOURCES__COPILOT__BASE_URL=fake.api_url,
        SOURCES__COPILOT__START_DATE=str(fake.enterprise.first_report_day),
    )
    command = [sys.executable, str(ROOT / "pipelines" / "load.py"), "--progress", "none"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def counts_in(destination: str, cwd: Path, postgres_url: str) -> dict[str, int]:
    tables = ("users_1_day", "enterprise_metrics", "seat_activity", "users_1_day__totals_by_ide")
    if destination == "filesystem":
        return {t: DeltaTable(str(cwd / "lake" / DATASET / t)).to_pyarrow_table().num_rows for t in tables}
    if destination == "duckdb":
        with duckdb.connect(str(cwd / "github_copilot.duckdb"), read_only=True) as db:
            return {t: db.execute(f"SELECT count(*) FROM {DATASET}.{t}").fetchall()[0][0] for t in tables}
    import psycopg2

    connection = psycopg2.connect(postgres_url)
    try:
        with connection.cursor() as cursor:
            found = {}
            for t in tables:
                cursor.execute(f"SELECT count(*) FROM {DATASET}.{t}")
                found[t] = cursor.fetchone()[0]
            return found
    finally:
        connection.close()


@pytest.mark.parametrize("destination", ["duckdb", "postgres", "filesystem"])
def test_load_py_loads_any_destination_by_config_alone(
    isolated_dlt: Path, fake: FakeGitHub, destination: str, request: pytest.FixtureRequest
) -> None:
    postgres_url = request.getfixturevalue("postgres_url") if destination == "postgres" else ""
    configure(isolated_dlt, destination, "delta" if destination == "filesystem" else None, postgres_url)

    result = load_py(isolated_dlt, fake)

    assert result.returncode == 0, result.stderr
    assert f"Loaded into {destination}, dataset {DATASET}" in result.stdout
    days = fake.enterprise.report_days()
    lines = [line for day in days for line in report_lines(fake, "users-1-day", day)]
    assert counts_in(destination, isolated_dlt, postgres_url) == {
        "users_1_day": len(lines),
        "enterprise_metrics": len(days),
        "seat_activity": len(fake.enterprise.seats(TODAY)),
        "users_1_day__totals_by_ide": sum(len(line["totals_by_ide"]) for line in lines),
    }
    # the token went to the API host only, and no file we wrote holds it
    assert {s.authorization for s in fake.calls("files")} == {None}
    written = [p for p in isolated_dlt.rglob("*") if p.is_file()]
    assert len(written) > 10
    assert not [p for p in written if fake.token.encode() in p.read_bytes()]


def test_plain_files_are_refused_rather_than_duplicated(isolated_dlt: Path, fake: FakeGitHub) -> None:
    configure(isolated_dlt, "filesystem", table_format=None)

    result = load_py(isolated_dlt, fake)

    assert result.returncode == 1
    assert (
        "[invalid_config] The filesystem destination cannot replace a re-read report day in plain files"
        in result.stderr
    )
    assert "SOURCES__COPILOT__TABLE_FORMAT" in result.stderr and '"delta"' in result.stderr
    assert not (isolated_dlt / "lake" / DATASET / "users_1_day").exists()
