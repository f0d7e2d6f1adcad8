"""The ``aioparticipant`` console script.

    aioparticipant demo                         the main job against an embedded emulator
    aioparticipant emulator --port 8080         serve the emulator on a loopback port
    aioparticipant update CF... CA... --muted   change one participant
    aioparticipant bulk rows.csv --out r.jsonl  change many, every row accounted for

Each command is a module ``aioparticipant.cli._<name>`` that provides ``HELP``
(one line), ``configure(parser)`` (adds its arguments) and ``run(args) -> int``
(the exit code). ``COMMANDS`` lists them in the order ``--help`` shows them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

from .._version import __version__

__all__ = ["COMMANDS", "main"]

#: The subcommands, by name; each lives in ``aioparticipant.cli._<name>``.
COMMANDS: tuple[str, ...] = ("demo", "update", "bulk", "emulator")

#: Exit code for a usage error, as argparse uses.
EXIT_USAGE = 2
#: Exit code after Ctrl-C (128 + SIGINT), the shell convention.
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code: int = run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


def build_parser() -> argparse.ArgumentParser:
    """The parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="aioparticipant",
        description="Mute, hold, coach, announce to and remove conference participants "
        "over SignalWire's or Twilio's REST API, or try it all against a local emulator.",
    )
    parser.add_argument("--version", action="version", version=f"aioparticipant {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, module in _command_modules():
        help_text: str = module.HELP
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        module.configure(subparser)
        subparser.set_defaults(run=module.run)
    return parser


def _command_modules() -> list[tuple[str, ModuleType]]:
    modules = []
    for name in COMMANDS:
        qualified = f"{__name__}._{name}"
        # A command not installed (or not written yet) is simply not offered; an
        # error inside one that exists is a bug and surfaces.
        if importlib.util.find_spec(qualified) is not None:
            modules.append((name, importlib.import_module(qualified)))
    return modules
