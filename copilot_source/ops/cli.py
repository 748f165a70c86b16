"""What `pipelines/load.py` and `pipelines/check.py` share: one-line errors, exit codes, signals.

Every failure prints one line on stderr, `error: [code] cause Fix: what to do`, never a
traceback, and the scripts exit with:

    0    done
    1    a failure with a code (GitHub, the destination, the machine, a setting)
    2    a usage error, or a configured project without its token
    130  interrupted by Ctrl-C (128 + SIGINT); 143 stopped by SIGTERM (128 + SIGTERM)
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
from importlib.util import find_spec
from pathlib import Path
from types import FrameType
from typing import NoReturn

from dlt.common.exceptions import SignalReceivedException

from copilot_source.errors import ConfigurationError, CopilotSourceError, Interrupted, MissingDependency
from copilot_source.ops.failures import explain, one_line

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# dlt's progress collectors that draw bars, and the package each needs
PROGRESS_BARS = {"tqdm": "tqdm", "enlighten": "enlighten", "alive_progress": "alive_progress"}


def use_project_folder(script: str) -> Path:
    """Read `.dlt/` from, and write the DuckDB file into, the project folder (the one holding the
    script's folder, pipelines/; DLT_PROJECT_DIR overrides it) instead of the working directory,
    dlt's default: a cron line without `cd` must see the project's settings, not the demo."""
    folder = Path(os.environ.get("DLT_PROJECT_DIR") or Path(script).resolve().parent.parent).resolve()
    os.environ["DLT_PROJECT_DIR"] = str(folder)
    os.environ.setdefault("DLT_LOCAL_DIR", str(folder))
    return folder


def local_folder() -> Path:
    """Where DuckDB files (and the report) are written: the project folder, or DLT_LOCAL_DIR."""
    return Path(os.environ.get("DLT_LOCAL_DIR") or Path.cwd())


def error_line(error: CopilotSourceError) -> str:
    """How a script prints a failure: one line, whatever the cause's text held."""
    return f"error: {one_line(error.message, 4000)}"


def failure(exc: BaseException, where: str | None = None) -> tuple[str, int]:
    """The line to print for `exc` (with its code) and the exit code that goes with it."""
    error = explain(exc, where)
    exit_code = 128 + error.signum if isinstance(error, Interrupted) else EXIT_FAILED
    return error_line(error), exit_code


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, whose usage errors are one `invalid_config` line like every other failure."""

    def error(self, message: str) -> NoReturn:
        refused = ConfigurationError(f"{self.prog}: {message}.", f"See: python {self.prog} --help")
        self.exit(EXIT_USAGE, error_line(refused) + "\n")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SignalReceivedException(signum)


def stop_on_signals() -> None:
    """Ctrl-C raises KeyboardInterrupt and SIGTERM (a scheduler stopping the job) dlt's signal
    exception, so both end the run through the same one-line error. dlt defers either while it
    normalizes and loads, and stops cleanly after the jobs in flight."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)


# the headings of a Python traceback: dropped, with its (indented) frames, from a one-line record
TRACEBACK_HEADINGS = re.compile(
    r"Traceback \(most recent call last\):"
    r"|The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:"
)


def flatten(text: str) -> str:
    """`text` on one line: traceback frames and headings dropped, the exception lines kept."""
    kept = [line for line in text.splitlines() if not line[:1].isspace()]
    return " ".join(TRACEBACK_HEADINGS.sub(" ", " ".join(kept)).split())


class OneLineRecords(logging.Filter):
    """Each log record on one line: dlt logs a failed load job with its traceback, and a cron log
    (or anything reading the scripts' stderr) gets one line per event, never a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message += f" ({type(exc).__name__}: {exc})"
        elif record.exc_text:
            message += f" ({record.exc_text})"
        flat = flatten(message)
        if flat != message or record.exc_info or record.exc_text:
            record.msg, record.args, record.exc_info, record.exc_text = flat, (), None, None
        return True


def one_line_logs() -> None:
    """Put dlt's log records (ours go through dlt's logger) on one line each, for this process."""
    logger = logging.getLogger("dlt")
    if not any(isinstance(f, OneLineRecords) for f in logger.filters):
        logger.addFilter(OneLineRecords())


def installed_progress_bars() -> list[str]:
    return [name for name, module in PROGRESS_BARS.items() if find_spec(module) is not None]


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """`--progress`, offering the bars whose package is installed (asking for another says how to get it)."""
    offered = ["log", "none", *installed_progress_bars()]
    missing = [name for name in PROGRESS_BARS if name not in offered]
    hint = f"; {', '.join(missing)}: pip install {' '.join(PROGRESS_BARS[n] for n in missing)} first" if missing else ""
    parser.add_argument(
        "--progress",
        default="log",
        choices=["log", "none", *PROGRESS_BARS],
        metavar="{" + ",".join(offered) + "}",
        help=f"dlt progress output (default: log{hint})",
    )


def progress_setting(choice: str) -> str | None:
    """dlt's `progress` argument for `--progress`; a bar whose package is missing is refused here."""
    if choice == "none":
        return None
    if choice in PROGRESS_BARS and choice not in installed_progress_bars():
        raise MissingDependency(
            f"--progress {choice} needs the {PROGRESS_BARS[choice]} package, which is not installed.",
            f"pip install {PROGRESS_BARS[choice]}, or use --progress log (the default) or none.",
        )
    return choice
