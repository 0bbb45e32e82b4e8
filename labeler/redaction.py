"""Credentials never shown: the one place that renders a project location for people and hides
passwords in any text (no store import, so the CLI's error path and the GUI use it cheaply).

:func:`shown_location` is the one function that turns a location (a file path or a database
URL) into text for a person: the URL is parsed by SQLAlchemy's ``make_url`` (the parser that
connects), rendered with its password hidden, and then, because a password may hold characters
the parser splits differently (``@``, ``/``, a space, a newline), everything between the user
name and the *last* ``@`` of the URL is hidden too, as are secret query parameters
(``password``, ``sslpassword``, ``sslkey``, ``passfile``). :func:`redact` does the same to every
URL inside a free text (a message, a driver's exception), and :func:`scrub` removes known
secret values wherever they appear (a driver may echo them in its own words).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

#: Query parameters (libpq's) whose value is a secret or names one.
SECRET_PARAMS = ("password", "sslpassword", "sslkey", "passfile")
HIDDEN = "***"

#: ``scheme://``: a scheme starts where no scheme character precedes and is at most 32 long
#: (linear time on a megabyte-long text).
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{0,31}://")
_PARAM = re.compile(r"(?P<head>[?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&#\r\n]*", re.IGNORECASE)
#: The same in a text that is one location and nothing else: the value runs to the next ``&``.
_PARAM_WHOLE = re.compile(r"(?P<head>[?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&]*", re.IGNORECASE)
#: libpq's ``key=value`` connection strings, as drivers quote them in errors.
_CONNINFO = re.compile(
    r"(?P<head>(?<![?&;\w])(?:" + "|".join(SECRET_PARAMS) + r")\s*=\s*)(?!\*\*\*)(?:'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE
)
_MIN_SCRUBBED = 3


def _hide_userinfo(text: str, hidden: str = HIDDEN) -> str:
    """In each ``scheme://...`` of ``text``: the span from the first ``:`` of the user part to the
    last ``@`` before the next URL becomes ``***`` (more is hidden than needed, never less)."""
    starts = [m.end() for m in _SCHEME.finditer(text)]
    if not starts:
        return text
    out = [text[: starts[0]]]
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        seg = text[start:end]
        if i + 1 < len(starts):  # the next URL's scheme belongs to the next segment
            nxt = _SCHEME.search(seg)
            cut = nxt.start() if nxt else len(seg)
            seg, rest = seg[:cut], seg[cut:]
        else:
            rest = ""
        at = seg.rfind("@")
        colon = seg.find(":")
        if 0 <= colon < at and "/" not in seg[:colon]:
            seg = f"{seg[: colon + 1]}{hidden}{seg[at:]}"
        out.append(seg + rest)
    return "".join(out)


def _mask_params(text: str, *, whole: bool = False) -> str:
    text = (_PARAM_WHOLE if whole else _PARAM).sub(lambda m: f"{m['head']}{HIDDEN}", text)
    return _CONNINFO.sub(lambda m: f"{m['head']}{HIDDEN}", text)


def redact(text: object) -> str:
    """``text`` with the password of every URL in it, and every secret parameter, as ``***``."""
    return _mask_params(_hide_userinfo(str(text)))


def scrub(text: object, secrets: Iterable[str | None]) -> str:
    """:func:`redact`, and each known secret value (as written or percent-encoded) replaced
    wherever it appears (a driver may quote it in its own words)."""
    out = redact(text)
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SCRUBBED}, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            out = out.replace(form, HIDDEN)
    return out


def shown_location(location: object) -> str:
    """A project location as a person may see it: a path as it is, a URL without its secrets.

    The password span is hidden in the text as written first (up to its *last* ``@``: a parser
    may split a password holding ``@``, ``?`` or ``/`` elsewhere and re-encode the rest), then
    SQLAlchemy's ``make_url`` renders what is left."""
    text = str(location)
    if not _SCHEME.match(text.strip()):
        return text
    hidden = _mask_params(_hide_userinfo(text.strip()), whole=True)
    try:
        from sqlalchemy.engine import make_url

        rendered = make_url(hidden).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - any text: hidden by its shape alone
        return hidden
    return _mask_params(_hide_userinfo(rendered), whole=True).replace("%2A%2A%2A", HIDDEN)


def url_secrets(location: object) -> list[str]:
    """The secret values a URL holds (its password, secret parameters), for :func:`scrub`."""
    try:
        from sqlalchemy.engine import make_url

        url = make_url(str(location).strip())
    except Exception:  # noqa: BLE001
        return []
    found = [url.password if isinstance(url.password, str) else None]
    for key, value in url.query.items():
        if key.lower() in SECRET_PARAMS:
            found += [value] if isinstance(value, str) else list(value)
    return [s for s in found if s]


def strip_password(url: str) -> str:
    """The URL without its password and secret parameters: what may be stored and reopened
    later, the password then coming from ~/.pgpass or PGPASSWORD."""
    from sqlalchemy.engine import make_url

    try:  # the password span cut as written first (a password may hold @, ? or /)
        parsed = make_url(_mask_params(_hide_userinfo(url.strip(), ""), whole=True))
    except Exception:  # noqa: BLE001
        return redact(url)
    if any(c in (parsed.host or "") for c in "@ \t\r\n"):  # a password the parser split elsewhere
        return redact(url)
    from urllib.parse import urlencode

    query = [(k, v) for k, vs in parsed.query.items() if k.lower() not in SECRET_PARAMS for v in ((vs,) if isinstance(vs, str) else vs)]
    base = parsed._replace(password=None, query={}).render_as_string(hide_password=False)
    return base + (f"?{urlencode(query, safe='/:', quote_via=quote)}" if query else "")
