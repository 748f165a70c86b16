"""Check the configured token, enterprise and policy against GitHub before loading anything.

    python pipelines/check.py            # one line per endpoint; exits 1 if any check failed
    python pipelines/check.py --json     # the same as JSON, for monitoring
    python pipelines/check.py --legacy   # also explain the legacy metrics endpoint (closed down)

Reads the same configuration as `pipelines/load.py`: `[sources.copilot]` in `.dlt/` or the
`SOURCES__COPILOT__*` environment variables. Loads nothing and changes no pipeline state.
"""

from __future__ import annotations

import argparse
import json
import sys

from copilot_source.github.redaction import install_log_redaction
from copilot_source.ops.check import run_check


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="also ask the legacy /copilot/metrics endpoint, to explain that it was closed down",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    install_log_redaction()
    args = parse_args(argv)
    report = run_check(legacy=args.legacy)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
