"""`fer-overlay` command line. Each subcommand lives in fer_overlay/commands/ and
registers itself; this module only wires them up and turns our errors into messages."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .errors import FerOverlayError

log = logging.getLogger("fer_overlay")


def build_parser() -> argparse.ArgumentParser:
    from .commands import analyze, demo, doctor, run, sessions, tray

    parser = argparse.ArgumentParser(
        prog="fer-overlay",
        description="Live class-mood overlay for online teaching. Without a command: the tray app.",
    )
    parser.add_argument("--version", action="version", version=f"fer-overlay {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    tray.add_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (analyze, run, demo, doctor, sessions):
        module.register(sub)
    return parser


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        if args.command is None:
            from .commands.tray import tray

            return tray(args)
        return int(args.func(args) or 0)
    except FerOverlayError as exc:
        print(f"fer-overlay: error: {exc}", file=sys.stderr)  # noqa: T201 - the CLI's own voice
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
