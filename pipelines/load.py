"""Load GitHub Copilot seats, enterprise metrics and per-user usage into the configured destination.

    python pipelines/load.py                # everything new since the last run
    python pipelines/load.py --demo         # a built-in fake enterprise, no token needed
    python pipelines/load.py --resources users_1_day --start-date 2026-01-01 --end-date 2026-01-31

The destination comes from `.dlt/config.toml` (DuckDB by default) or env vars, never from code.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from typing import Any

import dlt

from copilot_source import RESOURCE_NAMES, CopilotSourceError
from copilot_source.config import config_key, parse_day, utc_today, validate_resource_names
from copilot_source.demo import DEMO_PIPELINE, demo_server
from copilot_source.github.redaction import install_log_redaction
from copilot_source.ops.runner import run_load


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--resources",
        help=f"comma-separated subset of: {', '.join(RESOURCE_NAMES)} (default: all)",
    )
    parser.add_argument("--start-date", help="backfill from this day (YYYY-MM-DD); the cursor is left alone")
    parser.add_argument("--end-date", help="backfill up to this day (YYYY-MM-DD), included")
    parser.add_argument("--demo", action="store_true", help="load a built-in fake enterprise served on loopback")
    parser.add_argument(
        "--progress",
        default="log",
        choices=["log", "tqdm", "enlighten", "alive_progress", "none"],
        help="dlt progress output (default: log)",
    )
    return parser.parse_args(argv)


def source_args(args: argparse.Namespace) -> dict[str, Any]:
    """Backfill options: either date turns the run into a one-off range load."""
    if not (args.start_date or args.end_date):
        return {}
    start = parse_day(args.start_date, "start_date")
    end = parse_day(args.end_date, "end_date") or utc_today() - timedelta(days=1)
    return {"start_date": start, "end_date": end}


def configured(key: str, secret: bool = False) -> bool:
    """Whether `sources.copilot.<key>` is set in .dlt/ or the environment.

    A secret is looked up through `dlt.secrets` only: dlt records every value read through
    `dlt.config` in the pipeline trace (trace.pickle), in clear text.
    """
    accessor = dlt.secrets if secret else dlt.config
    try:
        return bool(accessor.get(f"sources.copilot.{key}"))
    except Exception:
        return False


def run_demo(resources: tuple[str, ...], extra: dict[str, Any], progress: str | None) -> int:
    # the demo's data ends where GitHub's newest report would on the day the source runs as
    today = parse_day(dlt.config.get("sources.copilot.today"), "today")
    with demo_server(today) as demo:
        summary = run_load(
            pipeline_name=DEMO_PIPELINE,
            resources=resources,
            source_args={**demo, **extra},
            progress=progress,
            destination=dlt.destinations.duckdb(f"{DEMO_PIPELINE}.duckdb"),
        )
    print("\n".join(summary.lines()))
    print(f"Demo data is in {DEMO_PIPELINE}.duckdb, dataset copilot_data.")
    return 0


def main(argv: list[str] | None = None) -> int:
    install_log_redaction()
    args = parse_args(argv)
    progress = None if args.progress == "none" else args.progress
    try:
        resources = validate_resource_names([r.strip() for r in (args.resources or "").split(",") if r.strip()])
        extra = source_args(args)
        if args.demo:
            return run_demo(resources, extra, progress)
        if not configured("access_token", secret=True):
            advice = (
                f"No GitHub token configured: set {config_key('access_token')} in .dlt/secrets.toml"
                " (see .dlt/example.secrets.toml)."
            )
            if configured("enterprise"):
                # a configured deployment without its token must fail loudly, never load fake data
                print(
                    f"error: {advice} To try the built-in demo instead: python pipelines/load.py --demo",
                    file=sys.stderr,
                )
                return 2
            print(
                f"{advice}\nNothing is configured yet, so this run loads the built-in demo enterprise"
                " (same as --demo).",
                file=sys.stderr,
            )
            return run_demo(resources, extra, progress)
        summary = run_load(resources=resources, source_args=extra, progress=progress)
    except CopilotSourceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
