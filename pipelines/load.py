"""Load GitHub Copilot seats, usage reports and AI credits into the configured destination, then (re)create
the analytics views over them.

    python pipelines/load.py                # everything new since the last run
    python pipelines/load.py --demo         # a built-in fake enterprise, no token needed
    python pipelines/load.py --resources users_1_day --start-date 2026-01-01 --end-date 2026-01-31

Settings come from the project's `.dlt/` (the folder that holds pipelines/, wherever the script is
started from; DLT_PROJECT_DIR overrides it) and env vars, never from code; the DuckDB file is
written there too. Failures print one line `error: [code] ...`; see docs/running.md.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _stopped_while_starting(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C or SIGTERM while the libraries load: nothing began, so nothing to explain but that."""
    name = signal.Signals(signum).name
    sys.stderr.write(f"error: [interrupted] Stopped by {name} before the run began. Fix: Run it again.\n")
    raise SystemExit(128 + signum)


# before the imports below, which take a second or two: a Ctrl-C inside them is no traceback either
signal.signal(signal.SIGINT, _stopped_while_starting)
signal.signal(signal.SIGTERM, _stopped_while_starting)

import argparse  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import dlt  # noqa: E402

from copilot_source import RESOURCE_NAMES  # noqa: E402
from copilot_source.config import config_key, parse_day, utc_today, validate_resource_names  # noqa: E402
from copilot_source.demo import DEMO_PIPELINE, demo_server  # noqa: E402
from copilot_source.errors import ConfigurationError  # noqa: E402
from copilot_source.github.redaction import install_log_redaction  # noqa: E402
from copilot_source.ops import cli  # noqa: E402
from copilot_source.ops.configured import configured_settings  # noqa: E402
from copilot_source.ops.runner import PIPELINE_NAME, run_load  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.OneLineArgumentParser(
        prog="pipelines/load.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--resources",
        help=f"comma-separated subset of: {', '.join(RESOURCE_NAMES)} (default: all)",
    )
    parser.add_argument("--start-date", help="backfill from this day (YYYY-MM-DD); the cursor is left alone")
    parser.add_argument(
        "--end-date", help="backfill up to this day (YYYY-MM-DD), included; a future day means up to yesterday"
    )
    parser.add_argument("--demo", action="store_true", help="load a built-in fake enterprise served on loopback")
    parser.add_argument("--no-views", action="store_true", help="do not (re)create the analytics views after the load")
    cli.add_progress_option(parser)
    return parser.parse_args(argv)


def run_today() -> date:
    """The UTC day the source runs as: the clock's, unless `today` pins it (tests, exact reruns)."""
    return parse_day(dlt.config.get("sources.copilot.today"), "today") or utc_today()


def backfill_args(args: argparse.Namespace, today: date) -> dict[str, Any]:
    """Either date turns the run into a one-off range load, up to yesterday at most."""
    if not (args.start_date or args.end_date):
        return {}
    newest = today - timedelta(days=1)
    start = parse_day(args.start_date, "start_date", name="--start-date")
    end = parse_day(args.end_date, "end_date", name="--end-date")
    if start is not None and start > newest:
        raise ConfigurationError(
            f"--start-date {start} is after {newest}, the newest day GitHub can have a report for"
            " (the day before today, UTC): there is nothing to load.",
            f"Give {newest} or an earlier day.",
        )
    if end is not None and end > newest:
        print(
            f"note: --end-date {end} is in the future: loading up to {newest}, the newest day GitHub can have"
            " a report for (the day before today, UTC).",
            file=sys.stderr,
        )
    return {"start_date": start, "end_date": min(end or newest, newest)}


def credentials_configured() -> bool:
    """A token or a GitHub App's key. Read through `dlt.secrets` only: dlt records every value read
    through `dlt.config` in the pipeline trace (trace.pickle), in clear text."""
    return bool(
        dlt.secrets.get("sources.copilot.access_token") or dlt.secrets.get("sources.copilot.github_app.private_key")
    )


def run_demo(resources: tuple[str, ...], extra: dict[str, Any], progress: str | None, views: bool) -> int:
    today = run_today()
    database = cli.local_folder() / f"{DEMO_PIPELINE}.duckdb"
    # the demo's data ends where GitHub's newest report would on the day the source runs as
    with demo_server(today) as demo:
        summary = run_load(
            pipeline_name=DEMO_PIPELINE,
            resources=resources,
            source_args={**demo, **extra},
            progress=progress,
            views=views,
            destination=dlt.destinations.duckdb(str(database)),
        )
    print("\n".join(summary.lines()))
    print(f"Demo data is in {database}, dataset copilot_data.")
    return cli.EXIT_OK


def load(args: argparse.Namespace, project: Path) -> int:
    progress = cli.progress_setting(args.progress)
    resources = validate_resource_names([r.strip() for r in (args.resources or "").split(",") if r.strip()])
    extra = backfill_args(args, run_today())
    if args.demo:
        return run_demo(resources, extra, progress, not args.no_views)
    if not credentials_configured():
        advice = (
            f"No GitHub token configured: set {config_key('access_token')} in {project / '.dlt' / 'secrets.toml'}"
            " (see .dlt/example.secrets.toml), or a GitHub App under [sources.copilot.github_app]."
        )
        configured = configured_settings(PIPELINE_NAME)
        if configured:
            # a configured deployment without its token must fail loudly, never load fake data
            shown = ", ".join(configured[:5]) + (", ..." if len(configured) > 5 else "")
            refused = ConfigurationError(
                f"{advice} This project is configured ({shown}), so the run does not fall back to the demo.",
                "Set the token, or to try the built-in demo instead: python pipelines/load.py --demo",
            )
            print(cli.error_line(refused), file=sys.stderr)
            return cli.EXIT_USAGE
        print(
            f"{advice}\nNothing is configured yet (project folder {project}), so this run loads the built-in"
            " demo enterprise (same as --demo).",
            file=sys.stderr,
        )
        return run_demo(resources, extra, progress, not args.no_views)
    summary = run_load(resources=resources, source_args=extra, progress=progress, views=not args.no_views)
    print("\n".join(summary.lines()))
    return cli.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    project = cli.use_project_folder(__file__)
    install_log_redaction()
    cli.one_line_logs()
    cli.stop_on_signals()
    args = parse_args(argv)
    try:
        return load(args, project)
    except SystemExit:
        raise
    except BaseException as exc:
        line, exit_code = cli.failure(exc)
        print(line, file=sys.stderr)
        return exit_code


if __name__ == "__main__":
    sys.exit(main())
