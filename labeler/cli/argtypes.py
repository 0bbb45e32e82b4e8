"""Argument types every option of the command line goes through: bounded numbers.

``type=int`` takes ``99999999999999999999999``, which later overflows SQLite, NumPy or a
thread pool with a traceback; ``type=float`` takes ``nan`` and ``inf``. :func:`bound_numbers`
replaces those types on every option of the parser once, so no command can forget: an integer
outside ``[-MAX_INT, MAX_INT]`` or a float that is not finite is a usage error (exit 2, one
``error:`` line) before any command runs. Commands still check their own meaning (``--limit``
not negative, ...).
"""

from __future__ import annotations

import argparse
import math

MAX_INT = 2**31 - 1
MAX_FLOAT = 1e12


def bounded_int(text: str) -> int:
    value = int(text.strip()) if len(text) <= 40 else None
    if value is None or not -MAX_INT <= value <= MAX_INT:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is out of range (at most {MAX_INT})")
    return value


bounded_int.__name__ = "int"  # argparse names the type in "invalid int value"


def finite_float(text: str) -> float:
    value = float(text) if len(text) <= 60 else math.inf
    if not math.isfinite(value) or abs(value) > MAX_FLOAT:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a usable number (finite, at most {MAX_FLOAT:g})")
    return value


finite_float.__name__ = "float"


def bound_numbers(parser: argparse.ArgumentParser) -> None:
    """Give every ``int``/``float`` option of ``parser`` and its subcommands the bounded type."""
    for action in parser._actions:  # argparse has no public walk over its actions
        if action.type is int:
            action.type = bounded_int
        elif action.type is float:
            action.type = finite_float
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                bound_numbers(sub)
