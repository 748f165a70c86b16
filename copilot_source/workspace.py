"""Where a run keeps what it downloads, and which load it is writing: shared by every resource."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import dlt
from dlt.common.configuration.container import Container
from dlt.common.pipeline import PipelineContext
from dlt.common.storages.exceptions import CurrentLoadPackageStateNotAvailable

from copilot_source.accounts import Account


def work_folder(name: str, account: Account) -> Path:
    """An empty folder for one account's downloads, inside the pipeline's working folder, so files
    a killed run left behind are removed by the next run (the run lock makes it ours)."""
    context = Container()[PipelineContext]
    if not context.is_active():
        return Path(tempfile.mkdtemp(prefix="copilot-"))
    kept = Path(dlt.current.pipeline().working_dir) / "copilot_downloads" / name
    # whatever is there was left by a killed run (accounts are read one after another)
    shutil.rmtree(kept, ignore_errors=True)
    folder = kept / account.key.replace(":", "-")
    folder.mkdir(parents=True)
    return folder


def remove_work_folder(folder: Path) -> None:
    """Remove an account's folder, and its parent once no other account's folder is left in it."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()


def current_load_id() -> str | None:
    """The id of the load package being extracted (Arrow tables carry it as `_dlt_load_id`)."""
    try:
        return str(dlt.current.load_package_state()["load_id"])
    except CurrentLoadPackageStateNotAvailable:
        return None
