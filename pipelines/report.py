"""Write a self-contained HTML adoption report from the loaded Copilot data (opens offline).

    python pipelines/report.py                 # the configured pipeline, or the demo when nothing is configured
    python pipelines/report.py --demo          # the demo's data (after python pipelines/load.py --demo)
    python pipelines/report.py --output out.html

Like pipelines/load.py it works on the project folder (the one holding pipelines/, wherever it is
started from; DLT_PROJECT_DIR overrides it): it reads the destination from the project's `.dlt/`
or env vars (DuckDB by default), (re)creates the analytics views there, and writes
`<pipeline>_report.html` into the project folder.
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
from copilot_source.ops import cli
from copilot_source.ops.configured import configured_settings
from copilot_source.ops.runner import DATASET_NAME, PIPELINE_NAME


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="report on the demo's data (github_copilot_demo.duckdb)")
    parser.add_argument("--output", help="the HTML file to write (default: <pipeline>_report.html)")
    return parser.parse_args(argv)


def report_pipeline(demo: bool) -> dlt.Pipeline:
    """The demo's pipeline when asked for or when nothing is configured (as pipelines/load.py
    decides whether to load the demo), else the configured one."""
    if demo or not configured_settings(PIPELINE_NAME):
        database = cli.local_folder() / f"{DEMO_PIPELINE}.duckdb"
        if not database.exists():
            raise AnalyticsFailed(
                f"No demo data here: {database} does not exist.",
                "Run python pipelines/load.py --demo first, or configure your enterprise or organizations.",
            )
        print(f"Reporting on the demo's data in {database}.", file=sys.stderr)
        return dlt.pipeline(
            DEMO_PIPELINE, destination=dlt.destinations.duckdb(str(database)), dataset_name=DATASET_NAME
        )
    pipeline = dlt.pipeline(PIPELINE_NAME, dataset_name=DATASET_NAME)
    if pipeline.destination is None:
        raise AnalyticsFailed(
            f"No destination is configured for pipeline {PIPELINE_NAME!r}.",
            f"Set `destination_type` under [pipelines.{PIPELINE_NAME}] in .dlt/config.toml, as for pipelines/load.py.",
        )
    return pipeline


def main(argv: list[str] | None = None) -> int:
    install_log_redaction()
    args = parse_args(argv)
    cli.use_project_folder(__file__)
    try:
        today = parse_day(dlt.config.get("sources.copilot.today"), "today") or utc_today()
        pipeline = report_pipeline(args.demo)
        page = build_report(pipeline, today)
        output = Path(args.output) if args.output else cli.local_folder() / f"{pipeline.pipeline_name}_report.html"
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
