"""`fer-overlay` command line. Each subcommand lives in fer_overlay/commands/ and
registers itself; this module only wires them up and turns our errors into messages.

Every parser here is a :class:`CommandParser`, which gives all of them the same three rules:

- the global options (``--config FILE``, ``-v``) are defined once, here, and work before
  or after the command (``fer-overlay --config F run`` and ``fer-overlay run --config F``);
- bad arguments are one line on stderr and exit code 2, never a usage dump or a traceback;
- an option that carries a spec grammar (``--source``, ``--sink``, ``--size``,
  ``--detector``, ``--provider``) is checked by that grammar (fer_overlay/specs.py) when
  the command declares it without a ``type``, so no command can skip the check.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import __version__, specs
from .errors import FerOverlayError, UsageError

log = logging.getLogger("fer_overlay")

PROG = "fer-overlay"

# The spec grammars of options, by flag; applied where a command gives no type of its own.
SPEC_OPTIONS: dict[str, Callable[[str], str]] = {
    "--source": specs.argument(specs.parse_source),
    "--sink": specs.argument(specs.parse_sink),
    "--size": specs.argument(specs.parse_size),
    "--detector": specs.argument(specs.parse_detector),
    "--provider": specs.argument(specs.parse_provider),
}


def _global_options(top_level: bool) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The options every command takes. After the command they default to SUPPRESS, so an
    option given before the command is not reset by the command's own default (argparse
    copies every attribute of the command's namespace over the top-level one)."""
    after = {} if top_level else {"default": argparse.SUPPRESS}
    return [
        (("--config",), {"type": Path, "metavar": "FILE", "default": None, **after,
                         "help": "settings file (default: the platform's config folder)"}),
        # Counted separately after the command, so `-v run -v` is -vv.
        (("-v", "--verbose"), {"action": "count", "default": 0, **after,
                               "dest": "verbose" if top_level else "verbose_after",
                               "help": "more log output (-vv for debug)"}),
    ]


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser with the rules in the module docstring; subcommand parsers are
    made of the same class (argparse's default for ``add_subparsers``)."""

    def __init__(self, *args: Any, top_level: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shared: dict[str, argparse.Action] = {}
        for flags, options in _global_options(top_level):
            action = super().add_argument(*flags, **options)
            self._shared.update(dict.fromkeys(flags, action))

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        # A command that declares a global option again (a future --config of its own) gets
        # the shared one: a second definition would reset it after the command.
        shared = next((self._shared[a] for a in args if a in getattr(self, "_shared", {})), None)
        if shared is not None:
            return shared
        check = next((SPEC_OPTIONS[a] for a in args if a in SPEC_OPTIONS), None)
        if check is not None and kwargs.get("type") is None and kwargs.get("action", "store") in ("store", "append"):
            kwargs["type"] = check
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    from .commands import analyze, demo, doctor, run, sessions, tray

    parser = CommandParser(
        prog=PROG,
        description="Live class-mood overlay for online teaching. Without a command: the tray app.",
        top_level=True,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    tray.add_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (analyze, run, demo, doctor, sessions):
        module.register(sub)
    return parser


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        configure_logging(args.verbose + getattr(args, "verbose_after", 0))
        if args.command is None:
            from .commands.tray import tray

            return tray(args)
        return int(args.func(args) or 0)
    except FerOverlayError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)  # noqa: T201 - the CLI's own voice
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
