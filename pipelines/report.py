"""Write a self-contained HTML adoption report from the loaded Copilot data (opens offline).

    python pipelines/report.py                 # the configured pipeline, or the demo when nothing is configured
    python pipelines/report.py --demo          # the demo's data (after python pipelines/load.py --demo)
    python pipelines/report.py --output out.html

It reads the pipeline's destination from `.dlt/config.toml` or env vars (DuckDB by default),
(re)creates the analytics views there, and writes `<pipeline>_report.html`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import dlt

from copilot_source import CopilotSourceError
from copilot_source.analytics.report import build_report
from copilot_source.config import parse_day, utc_today
from copilot_source.demo import DEMO_PIPELINE
from copilot_source.errors import AnalyticsFailed
from copilot_source.github.redaction import install_log_redaction
from copilot_source.ops.runner import DATASET_NAME, PIPELINE_NAME


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="report on the demo's data (github_copilot_demo.duckdb)")
    parser.add_argument("--output", help="the HTML file to write (default: <pipeline>_report.html)")
    return parser.parse_args(argv)


def configured(key: str, secret: bool = False) -> bool:
    """Whether `sources.copilot.<key>` is set (as pipelines/load.py decides what to load)."""
    accessor = dlt.secrets if secret else dlt.config
    try:
        return bool(accessor.get(f"sources.copilot.{key}"))
    except Exception:
        return False


def report_pipeline(demo: bool) -> dlt.Pipeline:
    """The demo's pipeline when asked for or when nothing is configured, else the configured one."""
    if demo or not (configured("enterprise") or configured("access_token", secret=True)):
        database = Path(f"{DEMO_PIPELINE}.duckdb")
        if not database.exists():
            raise AnalyticsFailed(
                f"No demo data here: {database} does not exist in {Path.cwd()}.",
                "Run python pipelines/load.py --demo first (from this folder), or configure your enterprise.",
            )
        print(f"Reporting on the demo's data in {database}.", file=sys.stderr)
        return dlt.pipeline(
            DEMO_PIPELINE, destination=dlt.destinations.duckdb(str(database)), dataset_name=DATASET_NAME
        )
    pipeline = dlt.pipeline(PIPELINE_NAME, dataset_name=DATASET_NAME)
    if pipeline.destination is None:
        raise AnalyticsFailed(
            f"No destination is configured for pipeline {PIPELINE_NAME!r}.",
            f"Set `destination_type` under [pipelines.{PIPELINE_NAME}] in .dlt/config.toml, as for"
            " pipelines/load.py, and run from the folder that holds .dlt/.",
        )
    return pipeline


def main(argv: list[str] | None = None) -> int:
    install_log_redaction()
    args = parse_args(argv)
    try:
        today = parse_day(dlt.config.get("sources.copilot.today"), "today") or utc_today()
        pipeline = report_pipeline(args.demo)
        page = build_report(pipeline, today)
        output = Path(args.output or f"{pipeline.pipeline_name}_report.html")
        output.write_text(page, encoding="utf-8")
    except CopilotSourceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: [analytics_failed] Could not write the report: {exc}", file=sys.stderr)
        return 1
    print(f"Wrote {output.resolve()} ({output.stat().st_size // 1024} KB); open it in any browser, offline.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
