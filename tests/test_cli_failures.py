"""Every failure of `pipelines/load.py` and `pipelines/check.py` is one line with a code, never a traceback.

Each row runs the real script as cron does: a subprocess with stdin from /dev/null and no TTY,
against the fake GitHub, in a project folder of its own. The machine's refusals are real ones: a
file-size limit (RLIMIT_FSIZE) for a full disk, a folder without write permission, a DuckDB file
held open by another process, real signals. A package is made "not installed" the way Python
itself spells it, `sys.modules[name] = None`, so that the rows do not depend on what the machine
happens to have installed.
"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from copilot_source.demo.fake_github import FakeGitHub
from tests.conftest import TODAY, TOKEN, report_lines
from tests.failure_modes import tiny_enterprise
from tests.scripts import CHECK, LOAD, fake_env

# runs a script with some modules looking not installed (import fails, find_spec finds nothing)
WITHOUT_MODULES = (
    "import runpy, sys;"
    "[sys.modules.__setitem__(name, None) for name in sys.argv[1].split(',')];"
    "sys.argv = sys.argv[2:];"
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)
# a token pasted through a word processor: a typographic apostrophe in the middle
PASTED_TOKEN = "ghp_Pasted\u2019Token0123456789abcdefABCDEFxyz"
HTML_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Proxy login</body></html>"
MALFORMED_TOML = '[sources.copilot]\nlookback_days = 3\nenterprise = "octo-corp\nconcurrency = 2\n'
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, PR_CAPBSET_DROP = 1, 2, 24


@dataclass
class Run:
    """One invocation of a script, and what must happen around it."""

    script: Path
    args: tuple[str, ...] = ()
    # added to the environment; None removes a variable
    env: dict[str, str | None] = field(default_factory=dict)
    # modules that must look not installed
    without: tuple[str, ...] = ()
    # runs in the child before the script starts (resource limits, dropped privileges)
    preexec: Callable[[], None] | None = None
    # acts on the running process (sends a signal) while the test waits for it
    during: Callable[[subprocess.Popen[str]], None] | None = None
    # the token the run is configured with: it must appear nowhere in the output
    token: str = TOKEN


def start(project: Path, fake: FakeGitHub, run: Run) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION", "PIPELINES__"))}
    environment.update(fake_env(fake))
    environment.update(
        DLT_PROJECT_DIR=str(project),
        SOURCES__COPILOT__TODAY=TODAY.isoformat(),
        PIPELINES__GITHUB_COPILOT__DESTINATION_TYPE="duckdb",
    )
    for name, value in run.env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    script = [str(run.script)]
    if run.without:
        script = ["-c", WITHOUT_MODULES, ",".join(run.without), str(run.script)]
    command = [sys.executable, *script, *run.args]
    if run.script == LOAD:
        command += ["--progress", "none"] if "--progress" not in run.args else []
    return subprocess.Popen(
        command,
        cwd=project.parent,  # never the project folder itself: the scripts must find it on their own
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=run.preexec,
    )


def execute(project: Path, fake: FakeGitHub, run: Run) -> tuple[int, str, str]:
    process = start(project, fake, run)
    try:
        if run.during is not None:
            run.during(process)
        stdout, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stdout, stderr


# -- what each row breaks ------------------------------------------------------------------------
Factory = Callable[[Path, FakeGitHub, ExitStack], Run]


def api_body(script: Path, path: str, content_type: str, body: bytes, *args: str) -> Factory:
    def make(project: Path, fake: FakeGitHub, stack: ExitStack) -> Run:
        fake.api_bodies[path] = (content_type, body)
        return Run(script, args)

    return make


def settings(script: Path, *args: str, **env: str | None) -> Factory:
    def make(project: Path, fake: FakeGitHub, stack: ExitStack) -> Run:
        token = env.get("SOURCES__COPILOT__ACCESS_TOKEN") or TOKEN
        return Run(script, args, env=dict(env), token=token)

    return make


def settings_file(script: Path, name: str, text: str) -> Factory:
    def make(project: Path, fake: FakeGitHub, stack: ExitStack) -> Run:
        (project / ".dlt").mkdir(exist_ok=True)
        (project / ".dlt" / name).write_text(text)
        return Run(script)

    return make


def without(script: Path, modules: tuple[str, ...], *args: str, **env: str) -> Factory:
    def make(project: Path, fake: FakeGitHub, stack: ExitStack) -> Run:
        return Run(script, args, env=dict(env), without=modules)

    return make


def drop_root_override() -> None:
    """In the child: root keeps its uid but loses the capability to ignore file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def read_only_pipelines_folder(project: Path, fake: FakeGitHub, stack: ExitStack) -> Run:
    home = project / "dlt_home"
    home.mkdir()
    home.chmod(0o555)
    stack.callback(home.chmod, 0o755)
    # root may write anywhere: the run starts without that privilege, as any other user would be
    preexec = drop_root_override if os.geteuid() == 0 else None
    return Run(LOAD, env={"DLT_DATA_DIR": str(home)}, preexec=preexec)


def file_size_limit(limit: int) -> Callable[[], None]:
    def limited() -> None:
        # a write past the limit fails with EFBIG (as a full disk fails with ENOSPC), no signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limited


def disk_full(limit: int, download: int = 0) -> Factory:
    """A file-size limit; with `download`, the first report file is made that big."""

    def make(project: Path, fake: FakeGitHub, stack: ExitStack) -> Run:
        if download:
            day = fake.enterprise.report_days()[0]
            line = fake.enterprise.report_lines("users-1-day", day)[0]
            fake.file_overrides[("users-1-day", day, 0)] = (line + "\n").encode() * (download // len(line) + 1)
        return Run(LOAD, preexec=file_size_limit(limit))

    return make


def duckdb_held_open(project: Path, fake: FakeGitHub, stack: ExitStack) -> Run:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; db = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()",
            str(project / "github_copilot.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def release() -> None:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)

    stack.callback(release)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "open"
    return Run(LOAD)


def signal_once_downloading(signum: int) -> Factory:
    def make(project: Path, fake: FakeGitHub, stack: ExitStack) -> Run:
        fake.latency = 0.1  # the run is still going when the signal comes

        def send(process: subprocess.Popen[str]) -> None:
            deadline = time.monotonic() + 120
            while not fake.calls("files") and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            process.send_signal(signum)

        return Run(LOAD, during=send)

    return make


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum` (Linux: the SigCgt mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


def signal_while_starting(project: Path, fake: FakeGitHub, stack: ExitStack) -> Run:
    """Ctrl-C as soon as the script has its first handler, while its libraries are still loading."""

    def send(process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 60
        while not catches(process.pid, signal.SIGTERM) and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)

    return Run(LOAD, during=send)


@dataclass(frozen=True)
class Case:
    breaks: Factory
    code: str
    exit_code: int = 1
    # stderr is that one line and nothing else (no log lines before it)
    alone: bool = True
    # what the output must say besides the code ({project} is the project folder)
    says: tuple[str, ...] = ()
    # a run that fails half-way: the next run (nothing broken) must complete the data
    then_completes: bool = False


IN_FUTURE = (TODAY + timedelta(days=30)).isoformat()
SNOWFLAKE = {
    "PIPELINES__GITHUB_COPILOT__DESTINATION_TYPE": "snowflake",
    "DESTINATION__SNOWFLAKE__CREDENTIALS": "snowflake://loader:secret@account/analytics",
}
CASES: dict[str, Case] = {
    # a 200 from the API whose body is not GitHub's JSON
    "load-seats-html": Case(
        api_body(LOAD, "billing/seats", "text/html", HTML_PAGE), "unreachable", says=("an HTML or XML page",)
    ),
    "load-seats-empty": Case(api_body(LOAD, "billing/seats", "application/json", b""), "unreachable"),
    "load-seats-array": Case(
        api_body(LOAD, "billing/seats", "application/json", b"[]"), "unreachable", says=("a JSON array",)
    ),
    "check-seats-html": Case(
        api_body(CHECK, "billing/seats", "text/html", HTML_PAGE),
        "unreachable",
        says=("an HTML or XML page (often a proxy's or a captive portal's) instead of a JSON object",),
    ),
    "check-seats-empty": Case(
        api_body(CHECK, "billing/seats", "application/json", b""), "unreachable", says=("an empty body",)
    ),
    "check-report-array": Case(
        api_body(CHECK, "metrics/reports/users-1-day", "application/json", b"[]"), "unreachable", says=("a JSON array",)
    ),
    "check-report-html": Case(
        api_body(CHECK, "metrics/reports/enterprise-1-day", "text/html", HTML_PAGE), "unreachable"
    ),
    # settings
    "load-token-not-latin1": Case(
        settings(LOAD, SOURCES__COPILOT__ACCESS_TOKEN=PASTED_TOKEN),
        "invalid_config",
        says=("RIGHT SINGLE QUOTATION MARK) at position 11",),
    ),
    "check-token-not-latin1": Case(settings(CHECK, SOURCES__COPILOT__ACCESS_TOKEN=PASTED_TOKEN), "invalid_config"),
    "load-api-version-crlf": Case(
        settings(LOAD, SOURCES__COPILOT__API_VERSION="2022-11-28\r\nX-Injected: 1"),
        "invalid_config",
        says=("api_version` under [sources.copilot] (env SOURCES__COPILOT__API_VERSION) contains a control character",),
    ),
    "check-api-version-crlf": Case(settings(CHECK, SOURCES__COPILOT__API_VERSION="2022-11-28\r\n"), "invalid_config"),
    "load-table-format-iceberg": Case(settings(LOAD, SOURCES__COPILOT__TABLE_FORMAT="iceberg"), "invalid_config"),
    "check-table-format-iceberg": Case(
        settings(CHECK, SOURCES__COPILOT__TABLE_FORMAT="iceberg"), "invalid_config", says=("'iceberg'",)
    ),
    "load-future-start-date": Case(
        settings(LOAD, "--start-date", IN_FUTURE), "invalid_config", says=(f"--start-date {IN_FUTURE} is after",)
    ),
    "load-unknown-resource": Case(settings(LOAD, "--resources", "seats,usage"), "invalid_config"),
    "load-unknown-option": Case(settings(LOAD, "--progress", "bars"), "invalid_config", exit_code=2),
    "load-configured-without-token": Case(
        settings(LOAD, SOURCES__COPILOT__ACCESS_TOKEN=None),
        "invalid_config",
        exit_code=2,
        says=("env SOURCES__COPILOT__ENTERPRISE", "--demo"),
    ),
    "load-malformed-config-toml": Case(
        settings_file(LOAD, "config.toml", MALFORMED_TOML),
        "invalid_config",
        says=("{project}/.dlt/config.toml is not valid TOML", "Correct line 3 of that file"),
    ),
    "load-malformed-secrets-toml": Case(
        settings_file(LOAD, "secrets.toml", MALFORMED_TOML),
        "invalid_config",
        says=("{project}/.dlt/secrets.toml is not valid TOML",),
    ),
    "check-malformed-secrets-toml": Case(
        settings_file(CHECK, "secrets.toml", MALFORMED_TOML),
        "invalid_config",
        says=("{project}/.dlt/secrets.toml is not valid TOML",),
    ),
    # the destination
    "load-unknown-destination": Case(
        settings(LOAD, PIPELINES__GITHUB_COPILOT__DESTINATION_TYPE="duckdbb"), "invalid_config", says=("'duckdbb'",)
    ),
    "load-destination-credentials-missing": Case(
        settings(LOAD, PIPELINES__GITHUB_COPILOT__DESTINATION_TYPE="postgres"), "invalid_config", says=("credentials",)
    ),
    "load-destination-package-missing": Case(
        without(LOAD, ("snowflake",), **SNOWFLAKE), "missing_dependency", says=('pip install "dlt[snowflake]"',)
    ),
    "load-progress-bar-missing": Case(
        without(LOAD, ("tqdm",), "--progress", "tqdm"), "missing_dependency", says=("pip install tqdm",)
    ),
    "load-duckdb-locked": Case(
        duckdb_held_open,
        "destination_locked",
        says=("The DuckDB file {project}/github_copilot.duckdb is open in another process",),
    ),
    # the machine
    "load-pipelines-folder-read-only": Case(
        read_only_pipelines_folder, "not_writable", says=("{project}/dlt_home", "Permission denied")
    ),
    # 96 KB: DuckDB creates its database, the run's own files fit, a 1 MB report file does not
    "load-disk-full-downloading": Case(
        disk_full(96 * 1024, download=1024 * 1024),
        "disk_full",
        says=("The disk is full while writing ", "/dlt_home/pipelines/github_copilot/copilot_downloads/users_1_day/"),
    ),
    # 96 KB: every file of the run fits, DuckDB's log of the load does not; dlt logs each retried
    # load job (on one line each) before giving up
    "load-disk-full-loading": Case(
        disk_full(96 * 1024),
        "disk_full",
        alone=False,
        says=("The disk is full while writing {project}/github_copilot.duckdb",),
        then_completes=True,
    ),
    # 8 KB: not even the run's first files fit (nor DuckDB's new database file)
    "load-disk-full-at-once": Case(disk_full(8 * 1024), "disk_full", says=("The disk is full while writing",)),
    "load-ctrl-c": Case(
        signal_once_downloading(signal.SIGINT),
        "interrupted",
        exit_code=130,
        says=("Ctrl-C", "the next run completes the data"),
        then_completes=True,
    ),
    "load-ctrl-c-while-starting": Case(signal_while_starting, "interrupted", exit_code=130),
    "load-sigterm": Case(signal_once_downloading(signal.SIGTERM), "interrupted", exit_code=143, says=("SIGTERM",)),
}


def expected_counts(fake: FakeGitHub) -> dict[str, int]:
    days = fake.enterprise.report_days()
    lines = [line for day in days for line in report_lines(fake, "users-1-day", day)]
    return {
        "users_1_day": len(lines),
        "users_1_day__totals_by_ide": sum(len(line["totals_by_ide"]) for line in lines),
        "enterprise_metrics": len(days),
        "seats": len(fake.enterprise.seats(TODAY)),
    }


def loaded_counts(database: Path) -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as db:
        tables = ("users_1_day", "users_1_day__totals_by_ide", "enterprise_metrics", "seats")
        return {t: db.execute(f"SELECT count(*) FROM copilot_data.{t}").fetchall()[0][0] for t in tables}


@pytest.mark.parametrize("case", list(CASES))
def test_every_failure_is_one_line_with_a_code(isolated_dlt: Path, case: str) -> None:
    expected = CASES[case]
    project = isolated_dlt / "project"
    project.mkdir()
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake, ExitStack() as stack:
        run = expected.breaks(project, fake, stack)
        returncode, stdout, stderr = execute(project, fake, run)
        if expected.then_completes:
            fake.latency = 0.0
            again, _, rerun = execute(project, fake, Run(LOAD))
            assert again == 0, rerun
            assert loaded_counts(project / "github_copilot.duckdb") == expected_counts(fake)

    assert returncode == expected.exit_code, stderr
    output = stdout + stderr
    assert "Traceback" not in output
    # neither the token nor (for the pasted one) either part of it
    for secret in (run.token, *run.token.split("\u2019")):
        assert secret not in output
    for text in expected.says:
        assert text.format(project=project) in output, output
    if run.script == CHECK and returncode == 1:
        # the check's verdicts go to stdout, one line each; a failed one names its code
        assert re.search(rf"^\S+ +FAIL {expected.code}: ", stdout, re.MULTILINE), stdout
        assert stderr == ""
        return
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert errors[0].startswith(f"error: [{expected.code}] ")
    assert " Fix: " in errors[0]
    if expected.alone:
        assert stderr.strip() == errors[0], stderr


def test_a_future_end_date_is_clamped_to_yesterday_and_said(isolated_dlt: Path) -> None:
    project = isolated_dlt / "project"
    project.mkdir()
    newest = TODAY - timedelta(days=1)
    future = (TODAY + timedelta(days=10)).isoformat()
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake:
        start = fake.enterprise.first_report_day.isoformat()
        backfill = ("--resources", "enterprise_metrics", "--start-date", start, "--end-date", future)
        returncode, stdout, stderr = execute(project, fake, Run(LOAD, backfill))
        asked = {seen.query.get("day") for seen in fake.calls("api", "/metrics/reports/")}
    assert returncode == 0, stderr
    assert f"note: --end-date {future} is in the future: loading up to {newest}" in stderr
    # nothing after yesterday was asked for
    assert max(asked) == newest.isoformat()
    assert "Traceback" not in stdout + stderr


def test_a_duckdb_file_a_full_disk_left_unfinished_is_named(isolated_dlt: Path) -> None:
    """DuckDB creating its file on a full disk leaves a few KB it cannot open again: said, with the fix."""
    project = isolated_dlt / "project"
    project.mkdir()
    with FakeGitHub(tiny_enterprise(), token=TOKEN, today=TODAY) as fake, ExitStack() as stack:
        failed, _, stderr = execute(project, fake, CASES["load-disk-full-at-once"].breaks(project, fake, stack))
        assert failed == 1, stderr
        database = project / "github_copilot.duckdb"
        assert database.stat().st_size < 3 * 4096
        again, _, stderr = execute(project, fake, Run(LOAD))
    assert again == 1
    assert stderr.strip() == (
        f"error: [pipeline_failed] The DuckDB file {database} is incomplete ({database.stat().st_size} bytes): a run"
        " stopped while creating it (e.g. on a full disk), so it holds no data. Fix: Delete that file and run again."
    )
