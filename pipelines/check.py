"""Check the configured token, enterprise and policy against GitHub before loading anything.

    python pipelines/check.py            # one line per endpoint; exits 1 if any check failed
    python pipelines/check.py --json     # the same as JSON, for monitoring
    python pipelines/check.py --legacy   # also explain the legacy metrics endpoint (closed down)

Reads the same configuration as `pipelines/load.py`, validated the same way: `[sources.copilot]`
in the project's `.dlt/` (the folder that holds pipelines/, wherever the script is started from;
DLT_PROJECT_DIR overrides it) or the `SOURCES__COPILOT__*` environment variables. Loads nothing
and changes no pipeline state. Failures outside the checks print one line `error: [code] ...`.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _stopped_while_starting(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C or SIGTERM while the libraries load: nothing began, so nothing to explain but that."""
    name = signal.Signals(signum).name
    sys.stderr.write(f"error: [interrupted] Stopped by {name} before the check began. Fix: Run it again.\n")
    raise SystemExit(128 + signum)


# before the imports below, which take a second or two: a Ctrl-C inside them is no traceback either
signal.signal(signal.SIGINT, _stopped_while_starting)
signal.signal(signal.SIGTERM, _stopped_while_starting)

import argparse  # noqa: E402
import json  # noqa: E402

from copilot_source.github.redaction import install_log_redaction  # noqa: E402
from copilot_source.ops import cli  # noqa: E402
from copilot_source.ops.check import run_check  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.OneLineArgumentParser(
        prog="pipelines/check.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="also ask the legacy /copilot/metrics endpoint, to explain that it was closed down",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    cli.use_project_folder(__file__)
    install_log_redaction()
    cli.one_line_logs()
    cli.stop_on_signals()
    args = parse_args(argv)
    try:
        report = run_check(legacy=args.legacy)
    except SystemExit:
        raise
    except BaseException as exc:
        line, exit_code = cli.failure(exc)
        print(line, file=sys.stderr)
        return exit_code
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return cli.EXIT_OK if report.ok else cli.EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
