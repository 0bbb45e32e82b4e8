"""Text from files (image names, keys, values) made safe to print in one line of a message.

A name from someone else's project or COCO file may hold terminal escape sequences (ESC, OSC:
retitle the window, fake a prompt), right-to-left overrides that make ``gpj.exe`` read as
``exe.jpg``, or be 100 MB long. Every message that shows such a name goes through :func:`shown`,
and every list of them through :func:`listing`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

#: Longest value shown in a message (the middle is cut out).
MAX_SHOWN = 200
#: Items of a list shown in a message before "... and N more".
MAX_LISTED = 10

_BIDI = {chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def _printable(ch: str) -> bool:
    if ch in _BIDI:
        return False
    return unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") or ch == "\u200d"


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """``value`` as one printable line: control and bidi-override characters become ``?``,
    and a value longer than ``limit`` keeps its start and end around "…"."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > 4 * limit:  # never walk 100 MB character by character
        text = text[: 2 * limit] + text[-2 * limit :]
        cut = True
    else:
        cut = False
    clean = "".join(ch if _printable(ch) else "?" for ch in text)
    if cut or len(clean) > limit:
        keep = max(1, (limit - 1) // 2)
        clean = f"{clean[:keep]}…{clean[-keep:]}"
    return clean


def clean_message(message: str, *, line_limit: int = 2 * MAX_SHOWN, max_lines: int = 4 * MAX_LISTED) -> str:
    """A whole message (several lines allowed) made safe: each line cleaned and cut to
    ``line_limit``, at most ``max_lines`` lines (then a count of the rest)."""
    lines = message.split("\n")
    out = [shown(line, line_limit) for line in lines[:max_lines]]
    if len(lines) > max_lines:
        out.append(f"  ... and {len(lines) - max_lines} more line(s)")
    return "\n".join(out)


def listing(items: Iterable[object], first: int = MAX_LISTED, *, indent: str = "  ") -> str:
    """Lines for the first ``first`` items (each :func:`shown`), then "... and N more"."""
    seq: Sequence[object] = items if isinstance(items, Sequence) else list(items)
    lines = [f"{indent}{shown(item)}" for item in seq[:first]]
    if len(seq) > first:
        lines.append(f"{indent}... and {len(seq) - first} more")
    return "\n".join(lines)
