"""Explain any failure of a run in one line with a code: GitHub's, the machine's, the settings'.

GitHub's failures arrive as `CopilotSourceError`s. Everything else (a full disk, a folder the
run may not write, a DuckDB file another process holds, a settings file that is not TOML, a
destination package that is not installed, Ctrl-C) arrives as whatever Python, DuckDB or dlt
raised, wrapped by dlt several times in messages that span many lines and quote tracebacks.
`explain` walks that chain to the cause and names it with its own code and fix.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import requests
import tomlkit
from dlt.common.configuration.exceptions import ConfigFieldMissingException, ConfigurationException
from dlt.common.configuration.providers.toml import TomlProviderReadException
from dlt.common.destination.exceptions import UnknownDestinationModule
from dlt.common.exceptions import MissingDependencyException, SignalReceivedException
from tomlkit.exceptions import ParseError

from copilot_source.errors import (
    DISK_FULL_ERRNOS,
    NOT_WRITABLE_ERRNOS,
    ConfigurationError,
    CopilotSourceError,
    DestinationLocked,
    DiskFull,
    Interrupted,
    MissingDependency,
    NotWritable,
    PipelineFailed,
    Unreachable,
)
from copilot_source.github.redaction import redact

# how the same errors read once DuckDB, pyarrow or dlt turned them into text
DISK_FULL_TEXT = re.compile(r"No space left on device|Disk quota exceeded|File too large")
NOT_WRITABLE_TEXT = re.compile(r"Permission denied|Read-only file system")
# DuckDB's wording (`Could not write file "..."`), not a traceback's (`File "...", line 3`)
FILE_IN_TEXT = re.compile(r'\b(?:file|directory) "(?P<path>[^"]+)"')
DUCKDB_LOCK_TEXT = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)": Conflicting lock is held in (?P<holder>\S+)'
    r"(?: \(PID (?P<pid>\d+)\))?"
)
# a DuckDB database file holds at least its three 4 KB headers; a shorter one was never finished
DUCKDB_HEADERS_SIZE = 3 * 4096
DUCKDB_SHORT_READ = re.compile(r'Could not read enough bytes from file "(?P<path>[^"]+)"')
SIGNAL_NAMES: dict[int, str] = {int(signal.SIGINT): "Ctrl-C (SIGINT)", int(signal.SIGTERM): "SIGTERM"}
NEXT_RUN_COMPLETES = (
    "Run it again: the next run completes the data (load packages already extracted are finished"
    " first, and every day not yet loaded is read from GitHub again)."
)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: dlt's `.exception`, then `__cause__` or `__context__`, once each."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "exception", None)
        for inner in (wrapped, current.__cause__ or current.__context__):
            if isinstance(inner, BaseException):
                pending.append(inner)


def one_line(text: str, limit: int = 400) -> str:
    """`text` redacted, on one line, cut to `limit` characters."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def interrupted(signum: int = signal.SIGINT) -> Interrupted:
    error = Interrupted(
        f"The run was interrupted by {SIGNAL_NAMES.get(signum, f'signal {signum}')} before it finished.",
        NEXT_RUN_COMPLETES,
    )
    error.signum = signum
    return error


def settings_file_error(exc: TomlProviderReadException) -> ConfigurationError:
    """A `.dlt/*.toml` file dlt could not read, named with the line TOML stumbled on."""
    for path in exc.full_paths:
        if not path or not os.path.isfile(path):
            continue
        try:
            tomlkit.parse(Path(path).read_text(encoding="utf-8"))
        except ParseError as error:
            return ConfigurationError(
                f"{os.path.abspath(path)} is not valid TOML: {one_line(str(error), 200)}.",
                f"Correct line {error.line} of that file: one `key = value` per line, text in double quotes"
                " (see .dlt/example.secrets.toml).",
            )
        except (UnicodeDecodeError, OSError) as error:
            return ConfigurationError(
                f"{os.path.abspath(path)} cannot be read as UTF-8 text: {one_line(str(error), 200)}.",
                "Save the file as UTF-8 text (and let the user running the load read it).",
            )
    return ConfigurationError(
        f"A settings file could not be read: {one_line(str(exc))}.",
        f"Correct {exc.file_name} in the project's .dlt/ folder (or dlt's global settings folder).",
    )


def _path_of(exc: BaseException, text: str) -> str | None:
    filename = getattr(exc, "filename", None)
    if filename:
        return str(filename)
    found = FILE_IN_TEXT.search(text)
    return found.group("path") if found else None


def _disk_full(path: str | None, detail: str, where: str | None) -> DiskFull:
    place = f"while writing {path}" if path else f"while writing to {where or 'disk'}"
    return DiskFull(
        f"The disk is full {place} ({detail}): no space left, a disk quota or a file-size limit was reached.",
        "Free space on that disk (or raise the quota/limit), then run again: the destination keeps what was"
        " loaded, and the next run completes the data.",
    )


def _not_writable(path: str | None, detail: str, where: str | None) -> NotWritable:
    return NotWritable(
        f"The run cannot write {path or where or 'a file it needs'} ({detail}).",
        "Let the user that runs the load write there, or move it: pipeline state lives in dlt's data folder"
        " (env DLT_DATA_DIR), the DuckDB file in the project folder (env DLT_LOCAL_DIR).",
    )


def _destination_locked(found: re.Match[str]) -> DestinationLocked:
    holder = found.group("holder")
    pid = f", PID {found.group('pid')}" if found.group("pid") else ""
    return DestinationLocked(
        f"The DuckDB file {found.group('path')} is open in another process ({holder}{pid}), which holds its"
        " write lock.",
        "Close that program (a notebook, a SQL client, the DuckDB CLI, another load) or let it finish, then run"
        " again; readers that only query it can open it with read_only=True.",
    )


def _unfinished_duckdb(found: re.Match[str]) -> PipelineFailed | None:
    path = found.group("path")
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    if size >= DUCKDB_HEADERS_SIZE:
        return None
    return PipelineFailed(
        f"The DuckDB file {path} is incomplete ({size} bytes): a run stopped while creating it (e.g. on a full"
        " disk), so it holds no data.",
        "Delete that file and run again.",
    )


def _os_error(exc: BaseException, where: str | None) -> CopilotSourceError | None:
    """A write the operating system refused, with its errno (and, mostly, the file)."""
    if not isinstance(exc, OSError) or isinstance(exc, requests.RequestException):
        return None
    detail = exc.strerror or str(exc)
    if exc.errno in DISK_FULL_ERRNOS:
        return _disk_full(_path_of(exc, str(exc)), detail, where)
    if exc.errno in NOT_WRITABLE_ERRNOS:
        return _not_writable(_path_of(exc, str(exc)), detail, where)
    return None


def _reported_error(exc: BaseException, where: str | None) -> CopilotSourceError | None:
    """The same refusals once DuckDB or dlt turned them into text, and a lock on the DuckDB file."""
    text = str(exc)
    locked = DUCKDB_LOCK_TEXT.search(text)
    if locked:
        return _destination_locked(locked)
    short = DUCKDB_SHORT_READ.search(text)
    unfinished = _unfinished_duckdb(short) if short else None
    if unfinished is not None:
        return unfinished
    full = DISK_FULL_TEXT.search(text)
    if full:
        return _disk_full(_path_of(exc, text), full.group(0), where)
    refused = NOT_WRITABLE_TEXT.search(text)
    if refused and "IO Error" in text:
        return _not_writable(_path_of(exc, text), refused.group(0), where)
    return None


def _configuration_error(exc: BaseException) -> CopilotSourceError | None:
    """dlt's own settings failures: a settings file, a destination, a missing package."""
    if isinstance(exc, TomlProviderReadException):
        return settings_file_error(exc)
    if isinstance(exc, MissingDependencyException):
        packages = " ".join(f'"{dependency}"' for dependency in exc.dependencies)
        return MissingDependency(
            f"The {exc.caller} needs Python packages that are not installed ({', '.join(exc.dependencies)}).",
            f"Install them where the load runs: pip install {packages}.",
        )
    if isinstance(exc, UnknownDestinationModule):
        return ConfigurationError(
            f"The destination {exc.ref!r} is not one dlt knows.",
            "Set `destination_type` under [pipelines.github_copilot] in .dlt/config.toml to duckdb, motherduck,"
            " postgres, bigquery, snowflake, databricks or filesystem.",
        )
    if isinstance(exc, ConfigFieldMissingException):
        return _missing_setting(exc)
    if isinstance(exc, ConfigurationException) and not isinstance(exc, CopilotSourceError):
        return ConfigurationError(
            f"dlt could not read a setting: {one_line(str(exc))}",
            "Correct it in the project's .dlt/config.toml, .dlt/secrets.toml or the environment.",
        )
    return None


def _missing_setting(exc: ConfigFieldMissingException) -> ConfigurationError:
    """A setting dlt needs and did not find, typically a destination's credentials."""
    missing = ", ".join(f"`{field}`" for field in exc.fields)
    destination = getattr(exc.config, "destination_type", None) or getattr(exc.config, "destination_name", None)
    if destination:
        name = str(destination).rsplit(".", 1)[-1]
        first = exc.fields[0]
        return ConfigurationError(
            f"The {name} destination is missing its {missing}.",
            f"Set {first} under [destination.{name}] in the project's .dlt/secrets.toml (env"
            f" DESTINATION__{name.upper()}__{first.upper()}); dlt's docs for {name} show the format.",
        )
    return ConfigurationError(
        f"A setting is missing: {missing} of {exc.spec_name}.",
        "Set it in the project's .dlt/secrets.toml or .dlt/config.toml, or as an env var.",
    )


def _signal(exc: BaseException) -> Interrupted | None:
    if isinstance(exc, SignalReceivedException):
        return interrupted(exc.signal_code)
    if isinstance(exc, KeyboardInterrupt):
        return interrupted(signal.SIGINT)
    return None


def _unexplained(exc: BaseException) -> PipelineFailed:
    """Anything else, in one line: the step, and the innermost cause with its type."""
    chain = list(causes(exc))
    innermost = chain[-1]
    step = next((getattr(c, "step", None) for c in chain if getattr(c, "step", None)), None)
    resource = next((getattr(c, "pipe_name", None) for c in chain if getattr(c, "pipe_name", None)), None)
    where = f" at step {step}" if step else ""
    where += f" (resource {resource})" if resource else ""
    return PipelineFailed(
        f"The run failed{where}: {type(innermost).__name__}: {one_line(str(innermost))}",
        "Fix the cause above and run again: finished load packages are kept, and the next run completes them"
        " before reading new data.",
    )


def explain(exc: BaseException, where: str | None = None) -> CopilotSourceError:
    """The one-line error for `exc`; `where` names the folders the run writes to, for disk errors."""
    chain = list(causes(exc))
    # Ctrl-C first: what it cut short may have failed in its own way on the way out
    for cause in chain:
        stopped = _signal(cause)
        if stopped is not None:
            return stopped
    for cause in chain:
        if isinstance(cause, CopilotSourceError):
            return cause
    # the most precise first: dlt's settings errors, an OSError (it names the file), then text
    rules: tuple[Callable[[BaseException], CopilotSourceError | None], ...] = (
        _configuration_error,
        lambda cause: _os_error(cause, where),
        lambda cause: _reported_error(cause, where),
    )
    for rule in rules:
        for cause in chain:
            explained = rule(cause)
            if explained is not None:
                return explained
    for cause in chain:
        if isinstance(cause, requests.exceptions.JSONDecodeError):
            return Unreachable(
                f"An answer from the API host was not JSON ({one_line(str(cause), 120)}): something other than"
                " GitHub's API answered, such as a proxy, a captive portal or a web page.",
                "Check `base_url` under [sources.copilot] (https://api.github.com, or https://api.<subdomain>.ghe.com)"
                " and the proxy settings (HTTPS_PROXY).",
            )
    return _unexplained(exc)
