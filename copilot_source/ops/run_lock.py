"""One run per pipeline at a time: a second run fails at once instead of corrupting state."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from copilot_source.errors import RunInProgress

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@contextmanager
def pipeline_lock(pipelines_dir: str, pipeline_name: str) -> Iterator[Path]:
    """Hold an exclusive lock on `<pipelines_dir>/<pipeline_name>.lock` for the block.

    The operating system releases the lock when the process dies, so a killed run never
    leaves a stale lock behind.
    """
    path = Path(pipelines_dir) / f"{pipeline_name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise RunInProgress(
                    f"Pipeline {pipeline_name!r} is already running (lock held by {holder}).",
                    f"Wait for that run to finish; the lock frees itself when it ends ({path}).",
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield path
