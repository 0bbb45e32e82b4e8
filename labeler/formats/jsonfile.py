"""Reading a JSON file from someone else: one FormatError for anything a parser would choke on.

Python's ``json`` accepts ``NaN``/``Infinity``, turns ``1e999`` into ``inf``, raises a bare
``ValueError`` for integers over 4300 digits and ``RecursionError`` for deep nesting; none of
those belong in a COCO or SPair file, so each is refused here with the file's name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from labeler.errors import FormatError

#: Digits of the longest integer accepted (ids, sizes and coordinates need far fewer).
MAX_INT_DIGITS = 20


class _Refused(ValueError):
    pass


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"a number out of range ({text[:40]})")
    return value


def _constant(name: str) -> float:
    raise _Refused(f"{name}, which is not a number JSON allows")


def parse_json(raw: bytes | str, path: Path, what: str = "JSON file") -> Any:
    """``json.loads`` with every number finite and every integer of at most 20 digits."""
    try:
        return json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _Refused as exc:
        raise FormatError(f"{path}: not a valid {what} (it holds {exc})") from None
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not a JSON text file (not UTF-8, UTF-16 or UTF-32)") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise FormatError(f"{path}: not a valid {what} (its JSON is nested too deeply)") from None
    except ValueError as exc:  # any other number the parser cannot hold
        raise FormatError(f"{path}: not a valid {what} ({exc})") from None


def load_json(path: Path, what: str = "JSON file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{path}: cannot read it ({exc.strerror})") from None
    return parse_json(raw, path, what)
