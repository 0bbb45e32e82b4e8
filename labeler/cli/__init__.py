"""The ``labeler`` command line. One module per subcommand, registered from :data:`COMMANDS`.

To add a subcommand, write ``labeler/cli/cmd_<name>.py`` with ``register(subparsers)`` (which
calls ``parser.set_defaults(run=run)``; ``run(args) -> int``) and add one line to COMMANDS.
Import heavy dependencies inside ``run`` so ``labeler --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from labeler import __version__
from labeler.cli.argtypes import bound_numbers
from labeler.display import clean_message, shown
from labeler.errors import LabelerError
from labeler.redaction import redact

COMMANDS: list[str] = [
    "labeler.cli.cmd_init",
    "labeler.cli.cmd_add_images",
    "labeler.cli.cmd_remove_images",
    "labeler.cli.cmd_label",
    "labeler.cli.cmd_status",
    "labeler.cli.cmd_export",
    "labeler.cli.cmd_import",
    "labeler.cli.cmd_eval",
    "labeler.cli.cmd_propagate",
    "labeler.cli.cmd_review",
    "labeler.cli.cmd_flag",
    "labeler.cli.cmd_instances",
    "labeler.cli.cmd_schema",
    "labeler.cli.cmd_clear_cache",
    "labeler.cli.cmd_gui",
    "labeler.cli.cmd_copy",
    "labeler.cli.cmd_grant",
]

#: Exit codes: a LabelerError (bad input, explained on stderr) and Ctrl-C.
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class OneLineParser(argparse.ArgumentParser):
    """Usage errors are one ``error:`` line, as every other refusal: argparse's usage block
    above the message buries it, and scripts look for the ``error:`` prefix."""

    def error(self, message: str):  # noqa: ANN201 (argparse's signature)
        self.exit(EXIT_ERROR, f"error: {self.prog}: {clean_message(message)} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="labeler",
        description="Keypoint labeling with zero-shot Stable Diffusion correspondence.",
        epilog="Run `labeler COMMAND --help` for a command's options. A project is one file (e.g. birds.labeler) or a PostgreSQL URL (postgresql://host/db?schema=birds).",
    )
    parser.add_argument("--version", action="version", version=f"labeler {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    bound_numbers(parser)
    return parser


def _printable_streams() -> None:
    """A file name that is not UTF-8 (or a terminal that is not) never stops a message."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _printable_streams()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    run = getattr(args, "run", None)
    if run is None and argv is None and len(sys.argv) <= 1:
        args = parser.parse_args(["gui"])  # the bare `labeler` command opens the window
        run = args.run
    if run is None:
        parser.print_help()
        return 0
    try:
        return int(run(args) or 0)
    except LabelerError as exc:
        print(f"error: {clean_message(redact(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        message = environment_error(exc, getattr(args, "project", None))
        if message is None:
            if os.environ.get("LABELER_DEBUG"):
                raise  # where it happened, for a bug report
            message = (
                f"internal error ({type(exc).__name__}: {shown(str(exc), 200)}); this is a bug in labeler: please "
                "report it with the command you ran (LABELER_DEBUG=1 shows where it happened)"
            )
        print(f"error: {clean_message(redact(message))}", file=sys.stderr)
        return EXIT_ERROR


def printable_name(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def environment_error(exc: BaseException, project: str | None) -> str | None:
    """The one-line message for a failure of the machine rather than of labeler: a full disk,
    a permission, a damaged or locked project file. None for anything else."""
    if isinstance(exc, OSError):
        where = f"{printable_name(os.fsdecode(exc.filename))}: " if isinstance(exc.filename, (str, bytes)) else ""
        return f"{where}{exc.strerror or exc}"
    if isinstance(exc, UnicodeError) and "surrogates not allowed" in str(exc):
        return "a file or folder name is not valid UTF-8 text; rename it"
    if isinstance(exc, ValueError) and ("null byte" in str(exc) or "null character" in str(exc)):
        return "a file or folder name holds a NUL character"
    if isinstance(exc, RecursionError):
        return "a file nests too deeply to be read"
    if isinstance(exc, MemoryError):
        return "out of memory (a file too large, or options asking for too much)"
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    if type(orig).__module__.startswith("psycopg"):
        from labeler.store.project import database_message

        from labeler.redaction import shown_location, url_secrets

        return database_message(shown_location(project or "the project"), exc, url_secrets(project or ""))
    if isinstance(orig, sqlite3.Error) or isinstance(exc, sqlite3.Error):
        reason = str(orig if isinstance(orig, sqlite3.Error) else exc)
        where = f"{Path(project).absolute()}: " if project else ""
        if "locked" in reason or "busy" in reason:
            return f"{where}the project is busy in another program ({reason}); try again"
        if "malformed" in reason or "not a database" in reason:
            return f"{where}the project file is damaged ({reason}); restore it from a backup"
        return f"{where}cannot read or write the project ({reason})"
    return None
