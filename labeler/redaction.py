"""Credentials never shown: the one function that hides passwords in any text (no dependencies,
so the CLI's error path and the GUI use it without loading the store)."""

from __future__ import annotations

import re

#: ``scheme://user:password@`` anywhere in a text. A scheme starts where no scheme character
#: precedes and is at most 32 long: linear time on a megabyte-long file name (an unbounded one
#: backtracked quadratically, minutes per message).
_PASSWORD = re.compile(r"(?P<head>(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^/\s:@]*):(?P<secret>[^@\s/]*)@")
_PASSWORD_PARAM = re.compile(r"(?P<head>[?&]password=)[^&\s]*", re.IGNORECASE)


def strip_password(url: str) -> str:
    """The URL without its password (``user:secret@`` -> ``user@``, no ``password=``): what may be
    stored and reopened later, the password then coming from ~/.pgpass or PGPASSWORD."""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    parts = urlsplit(_PASSWORD.sub(lambda m: f"{m['head']}@", url))
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "password"]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/:", quote_via=quote)))


def redact(text: object) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (the one place that
    hides credentials in messages, logs, window titles and recent-project lists)."""
    out = _PASSWORD.sub(lambda m: f"{m['head']}:***@", str(text))
    return _PASSWORD_PARAM.sub(lambda m: f"{m['head']}***", out)
