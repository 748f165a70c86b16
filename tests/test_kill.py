"""A run killed with SIGKILL in extract, normalize or load, then run again, equals a clean run.

The killed run is a real process (`tests/kill_run.py`) loading from the fake GitHub served by
this test; it freezes inside the chosen step and is killed there. A second run started while
one is in progress fails at once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest

from copilot_source import RunInProgress, copilot_source
from copilot_source.demo.fake_github import FakeEnterprise, FakeGitHub
from copilot_source.ops.runner import run_load
from copilot_source.safeguards import interrupted_jobs
from tests.compare import Snapshot, assert_same_data, newest_day, snapshot, source_state
from tests.conftest import NEWEST, TODAY, TOKEN, make_pipeline, run, small_enterprise
from tests.logs import dlt_warnings

SCRIPT = Path(__file__).resolve().parent / "kill_run.py"
PIPELINE = "github_copilot"


def source_args(fake: FakeGitHub, **extra: Any) -> dict[str, Any]:
    return {
        "enterprise": fake.enterprise.slug,
        "access_token": fake.token,
        "base_url": fake.api_url,
        "start_date": fake.enterprise.first_report_day.isoformat(),
        "rate_limit_min_wait": 0,
        **extra,
    }


def load(tmp_path: Path, fake: FakeGitHub) -> None:
    """A normal run, as `pipelines/load.py` makes it."""
    run_load(
        pipeline_name=PIPELINE,
        source_args=source_args(fake),
        progress=None,
        destination=dlt.destinations.duckdb(str(tmp_path / f"{PIPELINE}.duckdb")),
    )


def start_frozen_run(
    tmp_path: Path, fake: FakeGitHub, step: str, settle: bool = False, plain: bool = False, **extra: Any
) -> subprocess.Popen[bytes]:
    """Start a load in its own process; return once it is frozen inside `step`."""
    marker = tmp_path / f"frozen-in-{step}"
    arguments = {
        "pipeline": PIPELINE,
        "database": str(tmp_path / f"{PIPELINE}.duckdb"),
        "source": source_args(fake, **extra),
        "stop": step,
        "settle": settle,
        "plain": plain,
        "marker": str(marker),
    }
    output = tmp_path / f"frozen-in-{step}.log"
    # a killed run leaves its downloads in its temporary folder: keep that inside the test's
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    environment = {**os.environ, "TMPDIR": str(scratch)}
    with open(output, "wb") as log:  # a file, not a pipe: a full pipe would stall the run
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), json.dumps(arguments)], stdout=log, stderr=log, env=environment
        )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before freezing in {step}:\n{output.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run never reached {step}")
        time.sleep(0.05)
    assert marker.read_text().lower().startswith(step)
    return process


def kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()  # SIGKILL: no cleanup of any kind
    process.wait(timeout=30)
    assert process.returncode == -9


def first_enterprise() -> FakeEnterprise:
    return small_enterprise(newest_report_day=NEWEST - timedelta(days=2))


def changed_enterprise() -> FakeEnterprise:
    """What GitHub has at the second run: a day of the lookback window corrected, two days more."""
    return small_enterprise(newest_report_day=NEWEST, revisions={NEWEST - timedelta(days=3): 6})


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """A run that nothing interrupted, over what GitHub has at the second run."""
    home = tmp_path_factory.mktemp("clean")
    with isolated_home(home):
        with FakeGitHub(changed_enterprise(), token=TOKEN, today=TODAY) as fake:
            clean = make_pipeline(home, "clean")
            run(clean, fake)
        return snapshot(clean)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline and its database after a first run, before GitHub changed: copied by each test."""
    home = tmp_path_factory.mktemp("first")
    with isolated_home(home), FakeGitHub(first_enterprise(), token=TOKEN, today=TODAY) as fake:
        load(home, fake)
    return home


@contextmanager
def isolated_home(home: Path) -> Iterator[None]:
    """What the autouse `isolated_dlt` fixture does for a test, for a module fixture."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DLT_DATA_DIR", str(home / "dlt_home"))
        patch.setenv("RUNTIME__LOG_LEVEL", "WARNING")
        patch.chdir(home)
        yield


def start_from(first_run: Path, tmp_path: Path) -> None:
    shutil.copytree(first_run / "dlt_home" / "pipelines" / PIPELINE, tmp_path / "dlt_home" / "pipelines" / PIPELINE)
    shutil.copy2(first_run / f"{PIPELINE}.duckdb", tmp_path / f"{PIPELINE}.duckdb")


@pytest.mark.parametrize(
    ("step", "written_unrecorded"),
    [("extract", False), ("normalize", False), ("load", False), ("load", True)],
    ids=["extract", "normalize", "load", "load-written-unrecorded"],
)
def test_a_run_killed_in_any_step_then_run_again_equals_a_clean_run(
    tmp_path: Path, step: str, written_unrecorded: bool, first_run: Path, clean_run: Snapshot
) -> None:
    start_from(first_run, tmp_path)
    before = source_state(make_pipeline(tmp_path, PIPELINE))
    assert newest_day(make_pipeline(tmp_path, PIPELINE)) == str(NEWEST - timedelta(days=2))
    with FakeGitHub(changed_enterprise(), token=TOKEN, today=TODAY) as fake:
        kill(start_frozen_run(tmp_path, fake, step, settle=written_unrecorded))

        # where the kill left the pipeline: mid-extract nothing is kept, later a package waits
        killed = make_pipeline(tmp_path, PIPELINE)
        extracted, normalized = killed.list_extracted_load_packages(), killed.list_normalized_load_packages()
        expected_waiting = {"extract": (0, 0), "normalize": (1, 0), "load": (0, 1)}[step]
        assert (len(extracted), len(normalized)) == expected_waiting, (extracted, normalized)
        if step == "extract":
            assert source_state(killed) == before
        if step == "load":
            jobs = killed.get_load_package_info(normalized[0]).jobs
            assert jobs["completed_jobs"] and jobs["new_jobs"] + jobs["started_jobs"]
        if written_unrecorded:
            # the kill came between jobs committing their rows and dlt recording it (dlt-hub/dlt#3023)
            records = list(Path(killed.working_dir).glob("load/normalized/*/.pending_transitions/*"))
            assert records
            for record in records:
                record.unlink()
        unknown = interrupted_jobs(killed)
        assert bool(unknown) or not written_unrecorded

        with dlt_warnings() as warnings:
            load(tmp_path, fake)
    assert_same_data(make_pipeline(tmp_path, PIPELINE), clean_run)
    # a package with jobs of unknown outcome is read again rather than resumed
    discarded = [m for m in warnings if "was interrupted while writing to the destination" in m]
    assert len(discarded) == bool(unknown)


def test_a_second_run_while_one_is_in_progress_fails_at_once(tmp_path: Path, fake: FakeGitHub) -> None:
    process = start_frozen_run(tmp_path, fake, "extract")
    try:
        other = source_args(fake, enterprise="second-run")
        with pytest.raises(RunInProgress) as refused:
            run_load(
                pipeline_name=PIPELINE,
                source_args=other,
                progress=None,
                destination=dlt.destinations.duckdb(str(tmp_path / f"{PIPELINE}.duckdb")),
            )
        assert refused.value.code == "run_in_progress"
        assert f"Pipeline '{PIPELINE}' is already running (lock held by pid {process.pid})" in refused.value.message
        # it stopped before asking GitHub anything
        assert not [s for s in fake.seen if "second-run" in s.path]
    finally:
        kill(process)
    # the lock dies with its process: the next run goes ahead
    load(tmp_path, fake)
    assert newest_day(make_pipeline(tmp_path, PIPELINE)) == str(NEWEST)


def test_a_users_own_pipeline_run_killed_mid_write_then_run_again_equals_a_clean_run(
    tmp_path: Path, first_run: Path, clean_run: Snapshot
) -> None:
    """`pipeline.run(copilot_source())` with no runner and no extra call: creating the source
    recovers the pipeline from a load killed between writing rows and recording it."""
    start_from(first_run, tmp_path)
    with FakeGitHub(changed_enterprise(), token=TOKEN, today=TODAY) as fake:
        kill(start_frozen_run(tmp_path, fake, "load", settle=True, plain=True))
        killed = make_pipeline(tmp_path, PIPELINE)
        records = list(Path(killed.working_dir).glob("load/normalized/*/.pending_transitions/*"))
        assert records
        for record in records:
            record.unlink()  # the rows were written, dlt never recorded it (dlt-hub/dlt#3023)
        assert interrupted_jobs(killed)

        with dlt_warnings() as warnings:
            plain = make_pipeline(tmp_path, PIPELINE)
            plain.run(copilot_source(**source_args(fake)))
    assert_same_data(make_pipeline(tmp_path, PIPELINE), clean_run)
    assert [m for m in warnings if "was interrupted while writing to the destination" in m]
