"""A throwaway PostgreSQL server on loopback for the destination tests.

`running_postgres()` initialises a cluster in a temporary directory, starts it on 127.0.0.1 and
a free port, and stops and deletes it afterwards. Without the server binaries the tests are
skipped with the reason, unless `COPILOT_REQUIRE_POSTGRES=1` (set by `.ci/run`): then they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REQUIRE_ENV = "COPILOT_REQUIRE_POSTGRES"
USER = "copilot"
PASSWORD = "copilot-test-password"
# initdb refuses to run as root: a root test run starts the server as this system user
SYSTEM_USER = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int

    def url(self, database: str) -> str:
        """Connection string in the form dlt's `destination.postgres.credentials` takes."""
        return f"postgresql://{USER}:{PASSWORD}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(self.url("postgres"))
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)


def find_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian keeps them out of PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def unavailable(reason: str) -> None:
    """Skip with the reason, or fail when this run must test PostgreSQL for real."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: the PostgreSQL tests must run here)", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}. Install the `postgresql` package (or run .ci/run).")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SYSTEM_USER, "--", *command]


def _run(command: list[str]) -> None:
    result = subprocess.run(_as_server_user(command), capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} failed ({result.returncode}): {result.stderr or result.stdout}")


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    assert bin_dir is not None
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        unavailable("psycopg2 is not installed (pip install -e '.[dev]')")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        unavailable(f"running as root without `runuser` to start the server as {SYSTEM_USER!r}")
    # directly under the system temp dir, so the server's user can reach it
    root = Path(tempfile.mkdtemp(prefix="copilot-postgres-"))
    data, password_file = root / "data", root / "password"
    password_file.write_text(PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(root, SYSTEM_USER)
        shutil.chown(password_file, SYSTEM_USER)
    port = free_port()
    pg_ctl = str(bin_dir / "pg_ctl")
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        # loopback only, socket in the data dir, no fsync: a test server
        options = f"-h 127.0.0.1 -p {port} -k {data} -F -c max_connections=40"
        _run([pg_ctl, "start", "-w", "-t", "60", "-D", str(data), "-l", str(root / "server.log"), "-o", options])
        try:
            yield PostgresServer("127.0.0.1", port)
        finally:
            _run([pg_ctl, "stop", "-m", "fast", "-w", "-D", str(data)])
    finally:
        shutil.rmtree(root, ignore_errors=True)
